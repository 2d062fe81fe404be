//! Undo steps of a multi-step operation, run in reverse unless the operation commits.

pub struct Revert<'a> {
    undo: Vec<Box<dyn FnOnce() + 'a>>,
}

impl<'a> Revert<'a> {
    pub fn new() -> Self {
        Revert { undo: Vec::new() }
    }

    /// Register how to undo the step just done.
    pub fn add(&mut self, f: impl FnOnce() + 'a) {
        self.undo.push(Box::new(f));
    }

    /// The operation succeeded: keep everything.
    pub fn commit(mut self) {
        self.undo.clear();
    }
}

impl Default for Revert<'_> {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for Revert<'_> {
    fn drop(&mut self) {
        while let Some(f) = self.undo.pop() {
            f();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::rc::Rc;

    #[test]
    fn undoes_in_reverse_unless_committed() {
        let log = Rc::new(RefCell::new(Vec::new()));
        {
            let mut r = Revert::new();
            for i in 1..=3 {
                let l = log.clone();
                r.add(move || l.borrow_mut().push(i));
            }
        }
        assert_eq!(*log.borrow(), [3, 2, 1]);
        let mut r = Revert::new();
        let l = log.clone();
        r.add(move || l.borrow_mut().push(9));
        r.commit();
        assert_eq!(*log.borrow(), [3, 2, 1]);
    }
}
