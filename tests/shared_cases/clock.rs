//! An agent's clock: the wall clock plus an offset (`clock_offset`, `advance`),
//! or frozen at an instant (`freeze_clock`).

use holds::clock::{Clock, SystemClock};
use std::sync::Mutex;

#[derive(Default)]
pub struct AgentClock {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    offset: i64,
    frozen: Option<i64>,
}

impl AgentClock {
    pub fn new(offset: i64) -> Self {
        AgentClock {
            state: Mutex::new(State {
                offset,
                frozen: None,
            }),
        }
    }

    pub fn advance(&self, by: i64) {
        self.state.lock().unwrap().offset += by;
    }

    pub fn freeze(&self, at: i64) {
        self.state.lock().unwrap().frozen = Some(at);
    }
}

impl Clock for AgentClock {
    fn now(&self) -> i64 {
        let state = self.state.lock().unwrap();
        state
            .frozen
            .unwrap_or_else(|| SystemClock.now().saturating_add(state.offset))
    }
}
