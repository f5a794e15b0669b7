//! SQLite backend of the store.
//! STUB: to be written (helper "store").
