#include "crc32c.h"
#include <pthread.h>
#include <string.h>

static uint32_t table[8][256];
static pthread_once_t table_once = PTHREAD_ONCE_INIT;

static void build_table(void) {
  for (uint32_t i = 0; i < 256; i++) {
    uint32_t c = i;
    for (int k = 0; k < 8; k++) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : (c >> 1);
    table[0][i] = c;
  }
  for (uint32_t i = 0; i < 256; i++) {
    uint32_t c = table[0][i];
    for (int t = 1; t < 8; t++) {
      c = table[0][c & 0xff] ^ (c >> 8);
      table[t][i] = c;
    }
  }
}

uint32_t skein_crc32c_portable(uint32_t crc, const void *data, size_t length) {
  // pthread_once: threads racing on the first call must not read a table another is writing.
  pthread_once(&table_once, build_table);
  const uint8_t *p = (const uint8_t *)data;
  uint32_t c = ~crc;
  while (length >= 8) {
    uint64_t word;
    memcpy(&word, p, 8);
    c ^= (uint32_t)word;
    uint32_t hi = (uint32_t)(word >> 32);
    c = table[7][c & 0xff] ^ table[6][(c >> 8) & 0xff] ^ table[5][(c >> 16) & 0xff] ^
        table[4][c >> 24] ^ table[3][hi & 0xff] ^ table[2][(hi >> 8) & 0xff] ^
        table[1][(hi >> 16) & 0xff] ^ table[0][hi >> 24];
    p += 8;
    length -= 8;
  }
  while (length--) c = table[0][(c ^ *p++) & 0xff] ^ (c >> 8);
  return ~c;
}

// The hardware paths run three independent CRC streams over three adjacent blocks, since one
// CRC32 instruction's result feeds the next (3-cycle latency, 1 per cycle throughput), then join
// the three with shift tables: for raw registers, crc(A || B) = shift_|B|(crc(A)) ^ crc(0, B),
// and shift_n is linear, so it is four table lookups, one per byte of the register.
#define SKEIN_CRC_LONG 8192
#define SKEIN_CRC_SHORT 256

#if defined(__x86_64__)
#include <cpuid.h>
#define SKEIN_HW_TARGET __attribute__((target("sse4.2")))
#define SKEIN_CRC_WORD(c, w) ((uint64_t)__builtin_ia32_crc32di((c), (w)))
#define SKEIN_CRC_BYTE(c, b) (__builtin_ia32_crc32qi((c), (b)))
static int detect(void) {
  unsigned int a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
  return (c & bit_SSE4_2) != 0;
}
#elif defined(__aarch64__) && defined(__ARM_FEATURE_CRC32)
#include <arm_acle.h>
#define SKEIN_HW_TARGET
#define SKEIN_CRC_WORD(c, w) ((uint64_t)__crc32cd((uint32_t)(c), (w)))
#define SKEIN_CRC_BYTE(c, b) (__crc32cb((c), (b)))
static int detect(void) { return 1; }
#endif

#if defined(SKEIN_CRC_WORD)
static uint32_t shift_long[4][256];
static uint32_t shift_short[4][256];
static pthread_once_t shift_once = PTHREAD_ONCE_INIT;

/// The raw register `crc` after `length` zero bytes.
SKEIN_HW_TARGET static uint32_t zeros(uint32_t crc, size_t length) {
  uint64_t c = crc;
  for (size_t i = 0; i < length / 8; i++) c = SKEIN_CRC_WORD(c, 0);
  return (uint32_t)c;
}

static void build_shift_tables(void) {
  for (int k = 0; k < 4; k++) {
    for (uint32_t b = 0; b < 256; b++) {
      shift_long[k][b] = zeros(b << (8 * k), SKEIN_CRC_LONG);
      shift_short[k][b] = zeros(b << (8 * k), SKEIN_CRC_SHORT);
    }
  }
}

static inline uint32_t shift(uint32_t table[4][256], uint32_t crc) {
  return table[0][crc & 0xff] ^ table[1][(crc >> 8) & 0xff] ^ table[2][(crc >> 16) & 0xff] ^
         table[3][crc >> 24];
}

static inline uint64_t load_word(const uint8_t *p) {
  uint64_t word;
  memcpy(&word, p, 8);
  return word;
}

/// Three streams over blocks of `block` bytes while `3 * block` remain.
SKEIN_HW_TARGET static uint32_t interleaved(uint32_t crc, const uint8_t **data, size_t *length,
                                            size_t block, uint32_t table[4][256]) {
  const uint8_t *p = *data;
  size_t n = *length;
  while (n >= 3 * block) {
    uint64_t c0 = crc, c1 = 0, c2 = 0;
    for (size_t i = 0; i < block; i += 8) {
      c0 = SKEIN_CRC_WORD(c0, load_word(p + i));
      c1 = SKEIN_CRC_WORD(c1, load_word(p + block + i));
      c2 = SKEIN_CRC_WORD(c2, load_word(p + 2 * block + i));
    }
    crc = shift(table, (uint32_t)c0) ^ (uint32_t)c1;
    crc = shift(table, crc) ^ (uint32_t)c2;
    p += 3 * block;
    n -= 3 * block;
  }
  *data = p;
  *length = n;
  return crc;
}

SKEIN_HW_TARGET static uint32_t crc32c_hardware(uint32_t crc, const void *data, size_t length) {
  const uint8_t *p = (const uint8_t *)data;
  uint32_t c = ~crc;
  if (length >= 3 * SKEIN_CRC_SHORT) {
    pthread_once(&shift_once, build_shift_tables);
    c = interleaved(c, &p, &length, SKEIN_CRC_LONG, shift_long);
    c = interleaved(c, &p, &length, SKEIN_CRC_SHORT, shift_short);
  }
  uint64_t c64 = c;
  while (length >= 8) {
    c64 = SKEIN_CRC_WORD(c64, load_word(p));
    p += 8;
    length -= 8;
  }
  c = (uint32_t)c64;
  while (length--) c = SKEIN_CRC_BYTE(c, *p++);
  return ~c;
}
#else
static int detect(void) { return 0; }
#endif

static int hw_state = -1;

int skein_crc32c_hardware_available(void) {
  int s = __atomic_load_n(&hw_state, __ATOMIC_ACQUIRE);
  if (s < 0) {
    s = detect();
    __atomic_store_n(&hw_state, s, __ATOMIC_RELEASE);
  }
  return s;
}

uint32_t skein_crc32c(uint32_t crc, const void *data, size_t length) {
#if defined(SKEIN_CRC_WORD)
  if (skein_crc32c_hardware_available()) return crc32c_hardware(crc, data, length);
#endif
  return skein_crc32c_portable(crc, data, length);
}
