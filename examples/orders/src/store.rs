//! The orders, in memory, per user (`sub`), each user's ids counting from 1.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use serde::{Deserialize, Serialize};

/// Most orders one user may hold: memory stays bounded whatever a client sends.
pub const MAX_ORDERS_PER_USER: usize = 1_000;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    pub id: u64,
    pub item: String,
    pub quantity: u32,
}

/// What a client sends to create or replace an order.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderInput {
    pub item: String,
    pub quantity: u32,
}

impl OrderInput {
    pub const MAX_ITEM_CHARS: usize = 200;
    pub const MAX_QUANTITY: u32 = 1_000;

    /// The input with its item trimmed, or why it is refused.
    pub fn validated(self) -> Result<Self, String> {
        let item = self.item.trim().to_owned();
        if item.is_empty() || item.chars().count() > Self::MAX_ITEM_CHARS {
            return Err(format!("item must be 1 to {} characters", Self::MAX_ITEM_CHARS));
        }
        if !(1..=Self::MAX_QUANTITY).contains(&self.quantity) {
            return Err(format!("quantity must be 1 to {}", Self::MAX_QUANTITY));
        }
        Ok(Self { item, quantity: self.quantity })
    }
}

#[derive(Default)]
struct UserOrders {
    next_id: u64,
    orders: BTreeMap<u64, Order>,
}

/// Every user's orders. Cheap to clone; clones share.
#[derive(Clone, Default)]
pub struct Orders(Arc<Mutex<HashMap<String, UserOrders>>>);

impl Orders {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, UserOrders>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn list(&self, user: &str) -> Vec<Order> {
        self.lock().get(user).map(|u| u.orders.values().cloned().collect()).unwrap_or_default()
    }

    /// `None` when the user already holds [`MAX_ORDERS_PER_USER`].
    pub fn create(&self, user: &str, input: OrderInput) -> Option<Order> {
        let mut all = self.lock();
        let mine = all.entry(user.to_owned()).or_default();
        if mine.orders.len() >= MAX_ORDERS_PER_USER {
            return None;
        }
        mine.next_id += 1;
        let order = Order { id: mine.next_id, item: input.item, quantity: input.quantity };
        mine.orders.insert(order.id, order.clone());
        Some(order)
    }

    /// `None` when the user has no such order.
    pub fn replace(&self, user: &str, id: u64, input: OrderInput) -> Option<Order> {
        let mut all = self.lock();
        let order = all.get_mut(user)?.orders.get_mut(&id)?;
        order.item = input.item;
        order.quantity = input.quantity;
        Some(order.clone())
    }

    pub fn remove(&self, user: &str, id: u64) -> bool {
        self.lock().get_mut(user).is_some_and(|u| u.orders.remove(&id).is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(item: &str, quantity: u32) -> OrderInput {
        OrderInput { item: item.into(), quantity }
    }

    #[test]
    fn each_user_sees_only_their_orders() {
        let orders = Orders::default();
        let a = orders.create("alice", input("tea", 2)).unwrap();
        orders.create("bob", input("coffee", 1)).unwrap();
        assert_eq!(orders.list("alice"), vec![a.clone()]);
        assert!(orders.replace("bob", a.id + 5, input("x", 1)).is_none());
        assert!(!orders.remove("bob", 99));
        assert!(orders.remove("alice", a.id));
        assert!(orders.list("alice").is_empty());
    }

    #[test]
    fn input_is_validated() {
        assert_eq!(input("  tea ", 1).validated().unwrap().item, "tea");
        assert!(input(" ", 1).validated().is_err());
        assert!(input("tea", 0).validated().is_err());
        assert!(input(&"x".repeat(201), 1).validated().is_err());
    }

    #[test]
    fn a_user_holds_a_bounded_number_of_orders() {
        let orders = Orders::default();
        for _ in 0..MAX_ORDERS_PER_USER {
            assert!(orders.create("alice", input("tea", 1)).is_some());
        }
        assert!(orders.create("alice", input("tea", 1)).is_none());
    }
}
