//! `engine::sessions::SessionStore` for both backends.

/// Implements `engine::sessions::SessionStore` for `$store` (see `shared::impl_store!`).
macro_rules! impl_sessions_store {
    ($store:ty, $db:ty) => {
        impl ::engine::sessions::SessionStore for $store {}
    };
}

pub(crate) use impl_sessions_store;
