//! The set of action types a policy may use.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::action::ActionFactory;

/// Action factories by `type` (and alias). Built-in actions come from
/// `sluice_modules::builtin_registry()`; custom actions register here too.
#[derive(Clone, Default)]
pub struct Registry {
    by_name: BTreeMap<&'static str, Arc<dyn ActionFactory>>,
    primary: Vec<Arc<dyn ActionFactory>>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Registry::default()
    }

    /// Adds a factory under its type name and aliases, replacing any earlier one.
    pub fn register(&mut self, factory: impl ActionFactory) -> &mut Self {
        let factory: Arc<dyn ActionFactory> = Arc::new(factory);
        self.primary
            .retain(|f| f.type_name() != factory.type_name());
        self.by_name.insert(factory.type_name(), factory.clone());
        for alias in factory.aliases().iter().chain(factory.deprecated_aliases()) {
            self.by_name.insert(alias, factory.clone());
        }
        self.primary.push(factory);
        self
    }

    /// Looks a type (or alias) up.
    pub fn get(&self, type_name: &str) -> Option<&Arc<dyn ActionFactory>> {
        self.by_name.get(type_name)
    }

    /// Every registered factory, once each, in registration order.
    pub fn factories(&self) -> impl Iterator<Item = &Arc<dyn ActionFactory>> {
        self.primary.iter()
    }

    /// Type names, sorted.
    pub fn type_names(&self) -> Vec<&'static str> {
        let mut names: Vec<_> = self.primary.iter().map(|f| f.type_name()).collect();
        names.sort_unstable();
        names
    }
}
