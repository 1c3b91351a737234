//! How a module reaches its own tables inside the core's transaction or read snapshot.
//!
//! A module that owns tables (a dialect's purchases or promo codes, the webhook
//! deliveries, the peer directory) declares a repository trait. Each backend
//! implements that trait on its transaction and read types and registers, when it
//! opens, a cast from its concrete type to the trait object. A unit of work then asks
//! `tx.repo::<dyn MyRepo>()` and gets the repository that writes in the same
//! transaction as the money. The core never learns what the repositories are.

use std::any::{Any, TypeId};
use std::collections::HashMap;

use super::LedgerError;

/// A cast from a backend's transaction (or read connection) to repository `R`.
pub type Cast<R> = for<'a> fn(&'a mut dyn Any) -> Option<&'a mut R>;

struct Entry<R: ?Sized + 'static>(Cast<R>);

/// The repositories a backend offers, by trait. Built once when the store opens.
#[derive(Default)]
pub struct Repositories {
    casts: HashMap<TypeId, Box<dyn Any + Send + Sync>>,
}

impl Repositories {
    /// An empty registry.
    pub fn new() -> Repositories {
        Repositories::default()
    }

    /// Registers how to reach repository `R` (a `dyn Trait`) from the backend.
    pub fn register<R: ?Sized + 'static>(&mut self, cast: Cast<R>) -> &mut Repositories {
        self.casts
            .insert(TypeId::of::<R>(), Box::new(Entry::<R>(cast)));
        self
    }

    /// Repository `R` of `backend`.
    ///
    /// # Errors
    /// [`LedgerError::Invalid`] when the backend offers no `R` (a wiring bug).
    pub fn get<'a, R: ?Sized + 'static>(
        &self,
        backend: &'a mut dyn Any,
    ) -> Result<&'a mut R, LedgerError> {
        let missing = || {
            LedgerError::Invalid(format!(
                "the storage backend offers no repository {}",
                std::any::type_name::<R>()
            ))
        };
        let entry = self
            .casts
            .get(&TypeId::of::<R>())
            .and_then(|e| e.downcast_ref::<Entry<R>>())
            .ok_or_else(missing)?;
        (entry.0)(backend).ok_or_else(missing)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    trait Counter {
        fn bump(&mut self) -> u32;
    }
    struct Store(u32);
    impl Counter for Store {
        fn bump(&mut self) -> u32 {
            self.0 += 1;
            self.0
        }
    }
    trait Unregistered {}

    #[test]
    fn a_registered_repository_is_the_backend_itself_and_others_are_refused() {
        let mut repos = Repositories::new();
        repos.register::<dyn Counter>(|a| a.downcast_mut::<Store>().map(|s| s as &mut dyn Counter));
        let mut store = Store(0);
        assert_eq!(repos.get::<dyn Counter>(&mut store).unwrap().bump(), 1);
        assert_eq!(repos.get::<dyn Counter>(&mut store).unwrap().bump(), 2);
        assert_eq!(store.0, 2);
        let err = repos.get::<dyn Unregistered>(&mut store).err().unwrap();
        assert!(err.to_string().contains("Unregistered"), "{err}");
        // Another backend type is not cast.
        let mut other = 5u8;
        assert!(repos.get::<dyn Counter>(&mut other).is_err());
    }
}
