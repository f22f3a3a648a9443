//! PLACEHOLDER while the VADER port is written (replaced before commit).
pub fn vader_compound(_text: &str) -> f64 {
    0.0
}
pub fn vader_compound_e4(_text: &str) -> i32 {
    0
}
