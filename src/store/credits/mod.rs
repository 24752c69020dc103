//! Credits: wallets and their ledger, holds, top-ups and deferred (pending) usage.
pub mod grouped;
pub mod moves;
pub mod pending;
pub mod quick;
pub mod topups;
pub mod wallets;
