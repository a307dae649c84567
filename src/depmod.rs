//! depmod
