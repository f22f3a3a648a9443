//! PLACEHOLDER until the generator lands.
#[derive(Debug, Clone)]
pub struct GenConfig {
    pub comments: u64,
    pub seed: u64,
    pub entities: usize,
    pub start_ms: i64,
    pub comments_per_minute: f64,
    pub bursts: usize,
    pub edit_fraction: f64,
    pub delete_fraction: f64,
    pub late_fraction: f64,
    pub malformed_fraction: f64,
}
impl Default for GenConfig {
    fn default() -> Self {
        GenConfig {
            comments: 10_000,
            seed: 42,
            entities: 200,
            start_ms: 0,
            comments_per_minute: 60.0,
            bursts: 3,
            edit_fraction: 0.0,
            delete_fraction: 0.0,
            late_fraction: 0.0,
            malformed_fraction: 0.0,
        }
    }
}
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct GenSummary {
    pub comments: u64,
    pub edits: u64,
    pub deletes: u64,
    pub late: u64,
    pub malformed: u64,
    pub first_created_at_ms: i64,
    pub last_created_at_ms: i64,
    pub bursts: Vec<Burst>,
}
#[derive(Debug, Clone, serde::Serialize)]
pub struct Burst {
    pub entity_id: String,
    pub window_start_ms: i64,
    pub mentions: u64,
}
pub fn write_dir(_cfg: &GenConfig, _dir: &std::path::Path) -> std::io::Result<GenSummary> {
    Ok(GenSummary::default())
}
