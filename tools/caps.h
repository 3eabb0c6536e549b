/* Capabilities of a container's process, as docker computes them: its
 * default set, then --cap-add and --cap-drop (names with or without the
 * CAP_ prefix, any case, or ALL), or every capability with --privileged.
 * Pure. */
#ifndef LAYERCTL_CAPS_H
#define LAYERCTL_CAPS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* "sys_admin", "CAP_SYS_ADMIN", "all" -> "CAP_SYS_ADMIN", "ALL" into out;
 * false for a name that is no capability. */
bool caps_canonical(const char *name, char *out, size_t size);

/* The resulting list (new reference), in the kernel's order, or NULL with
 * the unknown name in *bad. "Every capability" (--privileged, ALL) is
 * those of AVAILABLE (bit n: capability n; what our own bounding set has,
 * as docker takes the host's). */
json_t *caps_resolve(char *const *add, size_t nadd, char *const *drop, size_t ndrop,
		     bool privileged, unsigned long long available, const char **bad);

#endif
