#ifndef SKEIN_COMPRESSION_H
#define SKEIN_COMPRESSION_H

#include <stddef.h>
#include <stdint.h>

/// Results of the codec shims. On success `*out` is a malloc'd buffer (possibly NULL when
/// `*out_len` is 0) the caller releases with `skein_codec_free`; on failure `*out` is NULL.
enum {
  SKEIN_CODEC_OK = 0,
  SKEIN_CODEC_CORRUPT = -1,
  SKEIN_CODEC_TRUNCATED = -2,
  SKEIN_CODEC_TOO_LARGE = -3,
  SKEIN_CODEC_NO_MEMORY = -4,
  SKEIN_CODEC_UNAVAILABLE = -5,
  SKEIN_CODEC_TRAILING_DATA = -6,
};

void skein_codec_free(void *buffer);

/// Inflates one or more concatenated gzip members (zlib streams are accepted too), producing
/// at most `max_out` bytes.
int skein_gzip_decompress(const uint8_t *src, size_t src_len, size_t max_out, uint8_t **out,
                          size_t *out_len);

/// Deflates `src` into a single gzip member at `level` (-1 for zlib's default).
int skein_gzip_compress(const uint8_t *src, size_t src_len, int level, uint8_t **out,
                        size_t *out_len);

/// Whether libzstd could be loaded at runtime (dlopen of libzstd.so.1 / libzstd.1.dylib).
int skein_zstd_available(void);

/// Decompresses one or more concatenated zstd frames, producing at most `max_out` bytes.
int skein_zstd_decompress(const uint8_t *src, size_t src_len, size_t max_out, uint8_t **out,
                          size_t *out_len);

/// Compresses `src` into one zstd frame at `level`.
int skein_zstd_compress(const uint8_t *src, size_t src_len, int level, uint8_t **out,
                        size_t *out_len);

#endif
