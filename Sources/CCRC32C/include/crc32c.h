#ifndef SKEIN_CRC32C_H
#define SKEIN_CRC32C_H
#include <stddef.h>
#include <stdint.h>

/// Updates a CRC32C (Castagnoli) checksum with `length` bytes. Start with crc = 0.
/// Uses the CPU's CRC32 instructions (SSE4.2 / ARMv8 CRC) when present, a table otherwise.
uint32_t skein_crc32c(uint32_t crc, const void *data, size_t length);

/// The portable table-driven implementation, exposed so tests can compare both paths.
uint32_t skein_crc32c_portable(uint32_t crc, const void *data, size_t length);

/// 1 when the hardware path is in use.
int skein_crc32c_hardware_available(void);
#endif
