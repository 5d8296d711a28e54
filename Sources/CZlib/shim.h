// zlib for SPDY/3 header compression. deflateInit2/inflateInit are macros Swift cannot import:
// small inline wrappers pass the library version and stream size as the macros do.
#ifndef LIFTOFF_CZLIB_SHIM_H
#define LIFTOFF_CZLIB_SHIM_H
#include <zlib.h>

static inline int liftoff_deflate_init(z_streamp stream, int level) {
  return deflateInit2_(stream, level, Z_DEFLATED, 15, 8, Z_DEFAULT_STRATEGY, ZLIB_VERSION, (int)sizeof(z_stream));
}

static inline int liftoff_inflate_init(z_streamp stream) {
  return inflateInit_(stream, ZLIB_VERSION, (int)sizeof(z_stream));
}
#endif
