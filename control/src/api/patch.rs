//! Patches: JSON merge, JSON patch, strategic merge, server-side apply.
//! STUB: to be written (helper "patch").
