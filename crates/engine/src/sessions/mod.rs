//! Troubleshooting sessions and what they hold: turns, the task lane, facts,
//! suggested fixes and branches. `model` has the types, `branches` the
//! branch tree and its rules, `store` the storage port,
//! `service` the rules the API calls, `lane` the task-lane rules and
//! `report` the Markdown export.

#[macro_use]
mod model;
mod branches;
mod lane;
mod report;
mod service;
mod store;

pub use branches::*;
pub use lane::{
    PendingResponse, assign_lane_ids, engineer_text, render_task_responses, stored_message,
};
pub use model::*;
pub use report::render_report;
pub use service::*;
pub use store::*;
