//! Building out-of-tree modules from DKMS sources (`dkms.conf`) and GLEP 33
//! source folders (`BUILD_PARAMS`) against a kernel's build folder, in a
//! sandbox, into a fresh module tree: see [`conf`] (evaluating dkms.conf
//! into a typed plan), [`build`] (the steps and the output), [`glep33`],
//! [`check`] (vermagic and symbol checks) and [`sandbox`].

pub mod build;
pub mod check;
pub mod conf;
pub mod glep33;
pub mod sandbox;
