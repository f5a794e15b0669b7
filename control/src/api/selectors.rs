//! Label and field selectors, as in `?labelSelector=` and `?fieldSelector=`.
//! STUB: to be written (helper "selectors+tables").
