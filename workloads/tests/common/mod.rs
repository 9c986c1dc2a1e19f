//! Helpers shared by the checker's oracle tests.

use workloads::model::Operation;

/// Brute force: every order of every subset of indeterminate operations, stepping a
/// nondeterministic specification (`succ` lists the possible next states).
pub fn brute_force<S: Clone>(
    ops: &[Operation],
    init: S,
    succ: &dyn Fn(&S, &Operation) -> Vec<S>,
) -> bool {
    fn go<S: Clone>(
        ops: &[Operation],
        placed: &mut [bool],
        s: S,
        succ: &dyn Fn(&S, &Operation) -> Vec<S>,
    ) -> bool {
        if ops
            .iter()
            .zip(placed.iter())
            .all(|(o, &p)| p || o.is_indeterminate())
        {
            return true;
        }
        for i in 0..ops.len() {
            if placed[i] || (0..ops.len()).any(|j| !placed[j] && j != i && ops[j].ret < ops[i].call)
            {
                continue;
            }
            for next in succ(&s, &ops[i]) {
                placed[i] = true;
                if go(ops, placed, next, succ) {
                    return true;
                }
                placed[i] = false;
            }
        }
        false
    }
    go(ops, &mut vec![false; ops.len()], init, succ)
}
