//! OCI images: pull, content-addressed blob store, unpack, wasm detection, GC. Arrives with the images issue.
