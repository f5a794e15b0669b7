//! Validation, defaulting and strict decoding of objects.
//! STUB: to be written (helper "validation").
