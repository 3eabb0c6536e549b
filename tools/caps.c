/* Capability sets. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "caps.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* Every capability, in the kernel's numbering (linux/capability.h). */
static const char *const all_caps[] = {
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
	"CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
	"CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW",
	"CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
	"CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
	"CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
	"CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE",
	"CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
	"CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
};

/* docker's default set. */
static const char *const default_caps[] = {
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
	"CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
	"CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
};

bool caps_canonical(const char *name, char *out, size_t size)
{
	char up[64];
	size_t n = strlen(name);
	if (n == 0 || n >= sizeof(up) - 4)
		return false;
	if (strcasecmp(name, "all") == 0) {
		snprintf(out, size, "ALL");
		return true;
	}
	size_t off = strncasecmp(name, "CAP_", 4) == 0 ? 0 : 4;
	memcpy(up, "CAP_", 4);
	for (size_t i = 0; i <= n; i++)
		up[off + i] = (char)toupper((unsigned char)name[i]);
	for (size_t i = 0; i < N(all_caps); i++) {
		if (strcmp(all_caps[i], up) == 0) {
			snprintf(out, size, "%s", up);
			return true;
		}
	}
	return false;
}

static int cap_index(const char *canon)
{
	for (size_t i = 0; i < N(all_caps); i++)
		if (strcmp(all_caps[i], canon) == 0)
			return (int)i;
	return -1;
}

/* Applies names to the set: on (add) or off (drop); ALL is every one. */
static bool apply(bool set[N(all_caps)], char *const *names, size_t n, bool on,
		  unsigned long long available, const char **bad)
{
	for (size_t i = 0; i < n; i++) {
		char canon[64];
		if (!caps_canonical(names[i], canon, sizeof(canon))) {
			*bad = names[i];
			return false;
		}
		if (strcmp(canon, "ALL") == 0) {
			for (size_t k = 0; k < N(all_caps); k++)
				set[k] = on ? (available >> k) & 1 : false;
		} else {
			set[cap_index(canon)] = on;
		}
	}
	return true;
}

json_t *caps_resolve(char *const *add, size_t nadd, char *const *drop, size_t ndrop,
		     bool privileged, unsigned long long available, const char **bad)
{
	bool set[N(all_caps)] = { false };
	for (size_t i = 0; i < N(default_caps); i++)
		set[cap_index(default_caps[i])] = true;
	if (privileged)
		for (size_t i = 0; i < N(all_caps); i++)
			set[i] = (available >> i) & 1;
	/* docker: drops first, then adds (an added one stays) */
	if (!apply(set, drop, ndrop, false, available, bad) ||
	    !apply(set, add, nadd, true, available, bad))
		return NULL;
	json_t *list = json_array();
	for (size_t i = 0; i < N(all_caps); i++)
		if (set[i])
			json_array_append_new(list, json_string(all_caps[i]));
	return list;
}
