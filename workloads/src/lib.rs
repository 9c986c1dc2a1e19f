//! Histories, models, generators and checkers.
