//! Troubleshooting sessions and what they hold: turns, the task lane, facts
//! and suggested fixes. `model` has the types, `store` the storage port,
//! `service` the rules the API calls, `lane` the task-lane rules and
//! `report` the Markdown export.

mod lane;
mod model;
mod report;
mod service;
mod store;

pub use lane::{PendingResponse, assign_lane_ids, render_task_responses, stored_message};
pub use model::*;
pub use report::render_report;
pub use service::*;
pub use store::*;
