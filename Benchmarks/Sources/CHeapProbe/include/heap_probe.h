#ifndef ROSTER_HEAP_PROBE_H
#define ROSTER_HEAP_PROBE_H
#include <stddef.h>

/// Returns free heap pages to the kernel (glibc malloc_trim(0)); a no-op elsewhere.
void roster_heap_trim(void);
/// Bytes allocated with malloc and not yet freed (glibc mallinfo2: uordblks + hblkhd); 0 elsewhere.
size_t roster_heap_in_use(void);

#endif
