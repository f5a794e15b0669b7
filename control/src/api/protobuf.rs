//! Decoding of protobuf request bodies (kubectl 1.32's `create` generators).
//! STUB: to be written (helper "protobuf").
