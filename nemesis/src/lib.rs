//! Faults and the hosts they act on.
