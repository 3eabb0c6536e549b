/* layerctl: the commands, and what they share. Each command lives in its own
 * file (tools/cmd_*.c) and is called with argv[0] = its name. */
#ifndef LAYERCTL_H
#define LAYERCTL_H

#include <stdbool.h>

struct ctl {
	const char *store_root;  /* --store, or NULL for the default */
	bool quiet;              /* -q: no progress, only errors */
};

typedef int (*cmd_fn)(struct ctl *ctl, int argc, char **argv);

/* Exit statuses: 0 done, 1 failed (a message on stderr), 2 bad usage. */
enum { CTL_OK = 0, CTL_FAIL = 1, CTL_USAGE = 2 };

/* The options of the registry commands (pull, push; see regopts.h). */
#define LAYERCTL_REGISTRY_OPTIONS \
	"  --tls-verify=false     no TLS certificate checks; plain HTTP allowed\n" \
	"  --cert-dir DIR         CA certificates (*.crt) and a client certificate\n" \
	"                         (*.cert, *.key) for the registry (default\n" \
	"                         $LAYERCTL_CERTS_DIR or /etc/containers/certs.d/HOST:PORT)\n" \
	"  --authfile FILE        credentials file (default $REGISTRY_AUTH_FILE,\n" \
	"                         ${XDG_RUNTIME_DIR}/containers/auth.json)\n" \
	"  --creds USER[:PASS]    credentials to use instead of the files\n" \
	"  --retry N              retries on network errors and 5xx (default 3)\n" \
	"  --retry-delay SECONDS  fixed delay between retries (default exponential from 1)\n"

/* Commands: name, usage, what it does, and the details `layerctl help NAME`
 * (and NAME -h/--help) shows; cmd_NAME in tools/cmd_*.c (cmd_help in
 * layerctl.c). */
#define LAYERCTL_COMMANDS(X) \
	X(unpack, "IMAGE [--platform OS/ARCH[/VARIANT]] [--name NAME[:TAG]]...", \
	  "unpack an image or layer tarball into the store", \
	  "IMAGE is a path, or a path with skopeo's transport and the image in it:\n" \
	  "  PATH                     a docker save archive or directory, an OCI image\n" \
	  "                           layout (directory or tar), or a layer tarball\n" \
	  "                           (.tar, .tar.gz, .tar.zst, .tar.xz)\n" \
	  "  PATH:TAG  PATH@sha256:D  one image of an OCI layout (docker save: PATH:NAME:TAG)\n" \
	  "  oci:DIR[:TAG]  oci:DIR@sha256:D  oci-archive:FILE[:TAG]\n" \
	  "  docker-archive:FILE[:NAME[:TAG]]  docker-archive:FILE:@N\n" \
	  "A source holding several images needs one of these; the error lists them.\n" \
	  "Every compressed layer is checked to the end of its stream (gzip CRC and\n" \
	  "length, zstd and xz checksums, nothing after the end).\n" \
	  "options:\n" \
	  "  --platform OS/ARCH[/VARIANT]  which image of a multi-platform index\n" \
	  "                           (default: the host's, e.g. linux/amd64)\n" \
	  "  --name NAME[:TAG]        the image's name (repeat for more); default: the\n" \
	  "                           names the source gives\n" \
	  "  -q, --quiet              no progress line (shown on a terminal: layer k/N,\n" \
	  "                           bytes read/total, rate)\n") \
	X(images, "", "list images", \
	  "NAME, IMAGE ID, LAYERS, SIZE and CREATED, one line per name.\n") \
	X(rmi, "[-f] IMAGE...", "remove an image (refused while a container uses it)", \
	  "IMAGE: NAME[:TAG], an id or a unique id prefix (12 hex digits or more).\n" \
	  "options:\n" \
	  "  -f, --force              remove an image with several names by its id\n") \
	X(gc, "", "remove layers no image uses", "") \
	X(create, "[OPTIONS] IMAGE NAME [CMD...]", \
	  "create a container: init and rw layers, OCI bundle", \
	  "IMAGE: NAME[:TAG] or an id (prefix). NAME: [A-Za-z0-9][A-Za-z0-9_.-]*.\n" \
	  "CMD replaces the image's command. An image without layers (scratch) gives a\n" \
	  "container of its init and rw layers only. config.json is written once: run\n" \
	  "uses it as it stands (edit it freely).\n" \
	  "options (docker's spelling):\n" \
	  "  -v, --volume HOST:CTR[:OPTS]  a bind mount; OPTS: ro|rw, rprivate (default,\n" \
	  "                           Kubernetes None), rslave (HostToContainer),\n" \
	  "                           rshared (Bidirectional), private|slave|shared,\n" \
	  "                           nosuid, nodev, noexec\n" \
	  "  --mount type=bind,src=H,dst=C[,readonly][,bind-propagation=P]\n" \
	  "  --mount type=tmpfs,dst=C[,tmpfs-size=N][,tmpfs-mode=M]\n" \
	  "  --tmpfs PATH[:OPTS]      a fresh tmpfs at PATH\n" \
	  "  --read-only              the rootfs is read-only inside the container\n" \
	  "  --rootfs-propagation private|slave|shared   (default rslave, as runc)\n" \
	  "  -e, --env KEY=VALUE, --env-file FILE, -w, --workdir DIR, -u, --user U[:G]\n" \
	  "  --hostname NAME, --entrypoint CMD, --init-file SRC:DST (into the init layer)\n" \
	  "  --cap-add CAP, --cap-drop CAP, --privileged\n") \
	X(mount, "[--dev | --nodev] NAME", "mount a container's rootfs with layerfs", \
	  "Prints the mountpoint. The rootfs is mounted nodev: the image's device nodes\n" \
	  "do not work through it on the host (a runtime gives the container its own\n" \
	  "/dev); setuid files work as they should.\n" \
	  "options:\n" \
	  "  --dev                    device nodes work (this and later mounts, run too)\n" \
	  "  --nodev                  back to the default\n") \
	X(umount, "[--force] NAME", "unmount a container's rootfs", \
	  "options:\n" \
	  "  -f, --force              also a busy or dead mount (lazily)\n") \
	X(rm, "[--force] NAME", "remove a container", \
	  "options:\n" \
	  "  -f, --force              a running container is killed, a mounted one\n" \
	  "                           unmounted first\n") \
	X(ps, "", "list containers and their state", "") \
	X(inspect, "NAME", "a container's image, layers, mounts and state as JSON", "") \
	X(config, "NAME", "print a container's config.json", "") \
	X(run, "[-d] [-t] [--runtime R] NAME [CMD...]", "run a container with runc or crun", \
	  "Mounts the rootfs when it is not mounted (and unmounts it after). CMD\n" \
	  "replaces the command for this run. The runtime: --runtime, else\n" \
	  "$LAYERCTL_RUNTIME, else runc, else crun. The exit status is the container's.\n" \
	  "options:\n" \
	  "  -d, --detach             run in the background (see stop, kill, exec, logs)\n" \
	  "  -t, --tty                a terminal for the container (stdin must be one)\n" \
	  "  --runtime R              runc, crun, or a path\n") \
	X(exec, "[-t] [-e K=V] [-w DIR] [-u UID[:GID]] NAME CMD...", \
	  "run a command in a running container", "") \
	X(stop, "[--time S] NAME", "stop a running container (SIGTERM, then SIGKILL)", "") \
	X(kill, "NAME [SIGNAL]", "send a signal to a running container", "") \
	X(logs, "NAME", "output of a container's detached runs", "") \
	X(diff, "NAME", "changes in a container's rw layer (A/C/D)", "") \
	X(commit, "NAME NEWNAME[:TAG]", "make the rw layer a new image layer", "") \
	X(export, "IMAGE --oci DIR | --docker-archive FILE", "write an image out", \
	  "options:\n" \
	  "  --oci DIR                an OCI image layout (skopeo's and umoci's oci:DIR)\n" \
	  "  --docker-archive FILE    a docker save archive (docker load)\n") \
	X(pull, "[OPTIONS] [docker://]NAME[:TAG|@sha256:DIGEST]", \
	  "fetch an image from a registry into the store", \
	  "Only the layers the store lacks are fetched, a few at a time, streamed\n" \
	  "through their digest check and decompression into the store.\n" \
	  "options:\n" \
	  "  --platform OS/ARCH[/VARIANT]  the image to take from an index (default the\n" \
	  "                         host's)\n" \
	  "  -j, --jobs N           layers fetched at a time (default 3)\n" \
	  LAYERCTL_REGISTRY_OPTIONS \
	  "  -q, --quiet            no progress; print the image id only\n") \
	X(push, "[OPTIONS] IMAGE [[docker://]NAME[:TAG]]", "send an image to a registry", \
	  "IMAGE goes to NAME:TAG, or to its own name without one. Blobs the repository\n" \
	  "has are not sent; blobs elsewhere in the registry are mounted from there.\n" \
	  "options:\n" \
	  LAYERCTL_REGISTRY_OPTIONS \
	  "  -q, --quiet            no progress\n") \
	X(login, "[OPTIONS] HOST[:PORT]", "check and store credentials for a registry", \
	  "Writes the auth file podman, skopeo and docker read ($REGISTRY_AUTH_FILE, else\n" \
	  "${XDG_RUNTIME_DIR}/containers/auth.json).\n" \
	  "options:\n" \
	  "  -u, --username USER    the user (asked for on a terminal when not given)\n" \
	  "  --password-stdin       read the password from standard input\n" \
	  "  -p, --password PASS    the password (visible to other users: prefer the above)\n" \
	  "  --tls-verify=false, --cert-dir DIR, --authfile FILE   as for pull\n") \
	X(logout, "[--authfile FILE] HOST[:PORT] | --all", "remove stored credentials", "") \
	X(branches, "MNT [--json]", "show the branches of a layerfs mount", "") \
	X(which, "MNT/PATH", "which branch supplies a path", "") \
	X(branch, "add|append|prepend|del|mod MNT ...", "change the branches of a live mount", \
	  "  layerctl branch add MNT INDEX PATH=PERM\n" \
	  "  layerctl branch append|prepend MNT PATH=PERM\n" \
	  "  layerctl branch del MNT PATH|INDEX\n" \
	  "  layerctl branch mod MNT PATH|INDEX=PERM\n") \
	X(help, "[COMMAND]", "show how to use layerctl, or one command", "")

#define LAYERCTL_DECLARE(name, args, help, details) \
	int cmd_##name(struct ctl *ctl, int argc, char **argv);
LAYERCTL_COMMANDS(LAYERCTL_DECLARE)
#undef LAYERCTL_DECLARE

#endif
