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

#if defined(__x86_64__)
#include <cpuid.h>
__attribute__((target("sse4.2"))) static uint32_t crc32c_sse42(uint32_t crc, const void *data,
                                                                size_t length) {
  const uint8_t *p = (const uint8_t *)data;
  uint64_t c = ~crc;
  while (length >= 8) {
    uint64_t word;
    memcpy(&word, p, 8);
    c = __builtin_ia32_crc32di(c, word);
    p += 8;
    length -= 8;
  }
  uint32_t c32 = (uint32_t)c;
  while (length--) c32 = __builtin_ia32_crc32qi(c32, *p++);
  return ~c32;
}
static int detect(void) {
  unsigned int a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
  return (c & bit_SSE4_2) != 0;
}
#elif defined(__aarch64__) && defined(__ARM_FEATURE_CRC32)
#include <arm_acle.h>
static uint32_t crc32c_armv8(uint32_t crc, const void *data, size_t length) {
  const uint8_t *p = (const uint8_t *)data;
  uint32_t c = ~crc;
  while (length >= 8) {
    uint64_t word;
    memcpy(&word, p, 8);
    c = __crc32cd(c, word);
    p += 8;
    length -= 8;
  }
  while (length--) c = __crc32cb(c, *p++);
  return ~c;
}
static int detect(void) { return 1; }
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
#if defined(__x86_64__)
  if (skein_crc32c_hardware_available()) return crc32c_sse42(crc, data, length);
#elif defined(__aarch64__) && defined(__ARM_FEATURE_CRC32)
  return crc32c_armv8(crc, data, length);
#endif
  return skein_crc32c_portable(crc, data, length);
}
