//! `engine::scripts::ScriptStore` for both backends.

/// Implements `engine::scripts::ScriptStore` for `$store` (see `shared::impl_store!`).
macro_rules! impl_scripts_store {
    ($store:ty, $db:ty) => {
        impl ::engine::scripts::ScriptStore for $store {}
    };
}

pub(crate) use impl_scripts_store;
