#include "skein_compression.h"

#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

void skein_codec_free(void *buffer) { free(buffer); }

/// A malloc'd output that grows geometrically up to a hard cap.
typedef struct {
  uint8_t *data;
  size_t size;
  size_t capacity;
  size_t limit;
} skein_output;

/// Makes room for at least one more byte. Returns SKEIN_CODEC_OK, _TOO_LARGE or _NO_MEMORY.
static int output_grow(skein_output *output, size_t hint) {
  if (output->size < output->capacity) return SKEIN_CODEC_OK;
  if (output->capacity >= output->limit) return SKEIN_CODEC_TOO_LARGE;
  size_t next = output->capacity == 0 ? hint : output->capacity;
  if (output->capacity != 0) next = output->capacity > SIZE_MAX / 2 ? SIZE_MAX : output->capacity * 2;
  if (next < 4096) next = 4096;
  if (next > output->limit) next = output->limit;
  uint8_t *grown = realloc(output->data, next);
  if (grown == NULL) return SKEIN_CODEC_NO_MEMORY;
  output->data = grown;
  output->capacity = next;
  return SKEIN_CODEC_OK;
}

static int output_finish(skein_output *output, int status, uint8_t **out, size_t *out_len) {
  if (status != SKEIN_CODEC_OK) {
    free(output->data);
    *out = NULL;
    *out_len = 0;
    return status;
  }
  *out = output->data;
  *out_len = output->size;
  return SKEIN_CODEC_OK;
}

static size_t initial_capacity(size_t src_len, size_t max_out) {
  size_t hint = src_len > SIZE_MAX / 4 ? SIZE_MAX : src_len * 4;
  if (hint < 65536) hint = 65536;
  return hint > max_out ? max_out : hint;
}

// MARK: - gzip (zlib)

int skein_gzip_decompress(const uint8_t *src, size_t src_len, size_t max_out, uint8_t **out,
                          size_t *out_len) {
  *out = NULL;
  *out_len = 0;
  if (src_len > UINT_MAX) return SKEIN_CODEC_TOO_LARGE;
  z_stream stream;
  memset(&stream, 0, sizeof stream);
  // 15 + 32: a 32 KiB window and automatic gzip/zlib header detection.
  if (inflateInit2(&stream, 15 + 32) != Z_OK) return SKEIN_CODEC_NO_MEMORY;
  skein_output output = {NULL, 0, 0, max_out};
  size_t hint = initial_capacity(src_len, max_out);
  stream.next_in = (Bytef *)src;
  stream.avail_in = (uInt)src_len;
  int status = SKEIN_CODEC_OK;
  for (;;) {
    if (output.size == output.capacity) {
      status = output_grow(&output, hint);
      if (status != SKEIN_CODEC_OK) {
        // Exactly at the cap: fine if the stream ends here, so probe with no room left.
        if (status != SKEIN_CODEC_TOO_LARGE) break;
        uint8_t probe;
        stream.next_out = &probe;
        stream.avail_out = 1;
        int result = inflate(&stream, Z_NO_FLUSH);
        if (result == Z_STREAM_END && stream.avail_in == 0 && stream.avail_out == 1) {
          status = SKEIN_CODEC_OK;
        } else if (result == Z_DATA_ERROR || result == Z_NEED_DICT) {
          status = SKEIN_CODEC_CORRUPT;
        }
        break;
      }
    }
    size_t room = output.capacity - output.size;
    if (room > UINT_MAX) room = UINT_MAX;
    stream.next_out = output.data + output.size;
    stream.avail_out = (uInt)room;
    int result = inflate(&stream, Z_NO_FLUSH);
    output.size += room - stream.avail_out;
    if (result == Z_STREAM_END) {
      if (stream.avail_in == 0) break;
      // Another gzip member follows (what Java's GZIPInputStream also reads); anything else
      // after the end of the stream is corrupt.
      if (stream.avail_in < 2 || stream.next_in[0] != 0x1f || stream.next_in[1] != 0x8b) {
        status = SKEIN_CODEC_TRAILING_DATA;
        break;
      }
      if (inflateReset(&stream) != Z_OK) {
        status = SKEIN_CODEC_CORRUPT;
        break;
      }
      continue;
    }
    if (result == Z_OK) continue;
    if (result == Z_BUF_ERROR) {
      // No progress possible: input exhausted mid-stream (output room is never zero here).
      status = stream.avail_in == 0 ? SKEIN_CODEC_TRUNCATED : SKEIN_CODEC_CORRUPT;
      break;
    }
    status = result == Z_MEM_ERROR ? SKEIN_CODEC_NO_MEMORY : SKEIN_CODEC_CORRUPT;
    break;
  }
  inflateEnd(&stream);
  return output_finish(&output, status, out, out_len);
}

int skein_gzip_compress(const uint8_t *src, size_t src_len, int level, uint8_t **out,
                        size_t *out_len) {
  *out = NULL;
  *out_len = 0;
  if (src_len > UINT_MAX / 2) return SKEIN_CODEC_TOO_LARGE;
  z_stream stream;
  memset(&stream, 0, sizeof stream);
  // 15 + 16: a 32 KiB window and a gzip header and trailer.
  if (deflateInit2(&stream, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    return SKEIN_CODEC_NO_MEMORY;
  }
  uLong bound = deflateBound(&stream, (uLong)src_len) + 32;
  uint8_t *buffer = malloc(bound);
  if (buffer == NULL) {
    deflateEnd(&stream);
    return SKEIN_CODEC_NO_MEMORY;
  }
  stream.next_in = (Bytef *)src;
  stream.avail_in = (uInt)src_len;
  stream.next_out = buffer;
  stream.avail_out = (uInt)bound;
  int result = deflate(&stream, Z_FINISH);
  size_t produced = bound - stream.avail_out;
  deflateEnd(&stream);
  if (result != Z_STREAM_END) {
    free(buffer);
    return SKEIN_CODEC_CORRUPT;
  }
  *out = buffer;
  *out_len = produced;
  return SKEIN_CODEC_OK;
}

// MARK: - zstd (libzstd loaded at runtime; no headers needed)

typedef struct {
  const void *src;
  size_t size;
  size_t pos;
} skein_zstd_in_buffer;

typedef struct {
  void *dst;
  size_t size;
  size_t pos;
} skein_zstd_out_buffer;

typedef void *(*zstd_create_dstream_fn)(void);
typedef size_t (*zstd_init_dstream_fn)(void *);
typedef size_t (*zstd_decompress_stream_fn)(void *, skein_zstd_out_buffer *,
                                            skein_zstd_in_buffer *);
typedef size_t (*zstd_free_dstream_fn)(void *);
typedef unsigned (*zstd_is_error_fn)(size_t);
typedef size_t (*zstd_compress_bound_fn)(size_t);
typedef size_t (*zstd_compress_fn)(void *, size_t, const void *, size_t, int);

static struct {
  zstd_create_dstream_fn create_dstream;
  zstd_init_dstream_fn init_dstream;
  zstd_decompress_stream_fn decompress_stream;
  zstd_free_dstream_fn free_dstream;
  zstd_is_error_fn is_error;
  zstd_compress_bound_fn compress_bound;
  zstd_compress_fn compress;
  int available;
} zstd_api;

static pthread_once_t zstd_once = PTHREAD_ONCE_INIT;

static void zstd_load(void) {
  static const char *const names[] = {
      "libzstd.so.1", "libzstd.so", "libzstd.1.dylib", "/opt/homebrew/lib/libzstd.1.dylib",
      "/usr/local/lib/libzstd.1.dylib",
  };
  void *handle = NULL;
  for (size_t i = 0; i < sizeof names / sizeof names[0] && handle == NULL; i++) {
    handle = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
  }
  if (handle == NULL) return;
  zstd_api.create_dstream = (zstd_create_dstream_fn)dlsym(handle, "ZSTD_createDStream");
  zstd_api.init_dstream = (zstd_init_dstream_fn)dlsym(handle, "ZSTD_initDStream");
  zstd_api.decompress_stream = (zstd_decompress_stream_fn)dlsym(handle, "ZSTD_decompressStream");
  zstd_api.free_dstream = (zstd_free_dstream_fn)dlsym(handle, "ZSTD_freeDStream");
  zstd_api.is_error = (zstd_is_error_fn)dlsym(handle, "ZSTD_isError");
  zstd_api.compress_bound = (zstd_compress_bound_fn)dlsym(handle, "ZSTD_compressBound");
  zstd_api.compress = (zstd_compress_fn)dlsym(handle, "ZSTD_compress");
  // The library stays loaded for the life of the process.
  zstd_api.available = zstd_api.create_dstream && zstd_api.init_dstream &&
                       zstd_api.decompress_stream && zstd_api.free_dstream && zstd_api.is_error;
}

int skein_zstd_available(void) {
  pthread_once(&zstd_once, zstd_load);
  return zstd_api.available;
}

int skein_zstd_decompress(const uint8_t *src, size_t src_len, size_t max_out, uint8_t **out,
                          size_t *out_len) {
  *out = NULL;
  *out_len = 0;
  if (!skein_zstd_available()) return SKEIN_CODEC_UNAVAILABLE;
  void *stream = zstd_api.create_dstream();
  if (stream == NULL) return SKEIN_CODEC_NO_MEMORY;
  if (zstd_api.is_error(zstd_api.init_dstream(stream))) {
    zstd_api.free_dstream(stream);
    return SKEIN_CODEC_NO_MEMORY;
  }
  skein_output output = {NULL, 0, 0, max_out};
  size_t hint = initial_capacity(src_len, max_out);
  skein_zstd_in_buffer input = {src, src_len, 0};
  int status = SKEIN_CODEC_OK;
  int at_cap = 0;
  uint8_t probe;
  for (;;) {
    if (output.size == output.capacity && !at_cap) {
      status = output_grow(&output, hint);
      if (status == SKEIN_CODEC_TOO_LARGE) {
        at_cap = 1;
        status = SKEIN_CODEC_OK;
      } else if (status != SKEIN_CODEC_OK) {
        break;
      }
    }
    // At the cap, decode into a one-byte probe: producing anything means the output is too big.
    skein_zstd_out_buffer dst = at_cap ? (skein_zstd_out_buffer){&probe, 1, 0}
                                       : (skein_zstd_out_buffer){output.data + output.size,
                                                                 output.capacity - output.size, 0};
    size_t before = input.pos;
    size_t result = zstd_api.decompress_stream(stream, &dst, &input);
    if (zstd_api.is_error(result)) {
      status = SKEIN_CODEC_CORRUPT;
      break;
    }
    if (at_cap && dst.pos > 0) {
      status = SKEIN_CODEC_TOO_LARGE;
      break;
    }
    output.size += dst.pos;
    // 0: a frame is complete and flushed; done once no input is left.
    if (result == 0 && input.pos == input.size) break;
    if (dst.pos < dst.size && input.pos == input.size) {
      status = SKEIN_CODEC_TRUNCATED;
      break;
    }
    if (dst.pos == 0 && input.pos == before) {
      status = SKEIN_CODEC_CORRUPT;  // No progress with room on both sides: never loop forever.
      break;
    }
  }
  zstd_api.free_dstream(stream);
  return output_finish(&output, status, out, out_len);
}

int skein_zstd_compress(const uint8_t *src, size_t src_len, int level, uint8_t **out,
                        size_t *out_len) {
  *out = NULL;
  *out_len = 0;
  if (!skein_zstd_available() || zstd_api.compress_bound == NULL || zstd_api.compress == NULL) {
    return SKEIN_CODEC_UNAVAILABLE;
  }
  size_t bound = zstd_api.compress_bound(src_len);
  if (zstd_api.is_error(bound)) return SKEIN_CODEC_TOO_LARGE;
  uint8_t *buffer = malloc(bound == 0 ? 1 : bound);
  if (buffer == NULL) return SKEIN_CODEC_NO_MEMORY;
  size_t written = zstd_api.compress(buffer, bound, src, src_len, level);
  if (zstd_api.is_error(written)) {
    free(buffer);
    return SKEIN_CODEC_CORRUPT;
  }
  *out = buffer;
  *out_len = written;
  return SKEIN_CODEC_OK;
}
