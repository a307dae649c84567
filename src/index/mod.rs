//! TEMPORARY STUB (replaced by the real index module on merge).
pub enum Layout {
    PreOrder,
    PostOrder,
}
#[derive(Default)]
pub struct IndexBuilder {
    n: usize,
}
impl IndexBuilder {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn insert(&mut self, _key: &[u8], _value: &[u8], _priority: u32) -> bool {
        self.n += 1;
        false
    }
    pub fn to_bytes(&self, _layout: Layout) -> Vec<u8> {
        Vec::new()
    }
}
pub fn normalize_alias(alias: &[u8]) -> Option<Vec<u8>> {
    Some(alias.to_vec())
}
