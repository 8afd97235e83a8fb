#include "heap_probe.h"
#include <stdlib.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

void roster_heap_trim(void) {
#if defined(__GLIBC__)
    malloc_trim(0);
#endif
}

size_t roster_heap_in_use(void) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
    struct mallinfo2 info = mallinfo2();
    return info.uordblks + info.hblkhd;
#else
    return 0;
#endif
}
