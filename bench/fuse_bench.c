/*
 * fuse_bench.c - `chainfs bench fuse` (see fuse_bench.h).
 *
 * Unless --mountpoint is given, the cluster is started with `chainfs up --fast` (this
 * same binary) in a fresh directory under /var/tmp and stopped with `chainfs down` at
 * the end, also when a step fails or the run is interrupted. The local-disk figures
 * are measured in a directory beside the cluster's data (same file system), so the
 * ratio mount/local says what the whole path (FUSE, client, RPC, 3-way chain
 * replication, storage engine) costs against the disk it all ends on.
 *
 * The mount uses direct I/O by default (no page cache), so the local runs use O_DIRECT
 * too; through the mount fio opens with O_DIRECT only where the kernel allows it.
 * Every fio run has a runtime cap, and the file loops are bounded by --files.
 */
#include "bench/fuse_bench.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench/disk_limits.h"
#include "common/bench_report.h"
#include "common/clock.h"

#define THREADS 4
#define FIO_SEQUENTIAL_CAP_S 300 /* per sequential fio run */
#define UP_TIMEOUT_S 240

struct settings {
    bool json;
    bool keep;
    unsigned long long size; /* bytes of the sequential file */
    int files;
    int random_seconds; /* random reads are time-based */
    char mountpoint[512]; /* given, or DIR/mnt of the started cluster */
    char cluster_dir[256]; /* empty when --mountpoint was given */
    char local_dir[512];   /* the local-disk side */
    char mount_dir[600];   /* the benchmark's directory inside the mount */
};

static volatile sig_atomic_t interrupted;

static void on_signal(int signal_number)
{
    (void)signal_number;
    interrupted = 1;
}

/* --- the cluster ---------------------------------------------------------------------- */

/* Runs `chainfs <verb> --dir DIR [--fast]` from this binary with its output in
 * DIR/<verb>.log; gives up (SIGKILL) after timeout_s. Returns its exit status. */
static int run_cluster_command(const struct settings *settings, const char *verb, int timeout_s)
{
    char log_path[300];
    snprintf(log_path, sizeof(log_path), "%s/%s.log", settings->cluster_dir, verb);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        int log = open(log_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (log >= 0) {
            dup2(log, 1);
            dup2(log, 2);
        }
        if (strcmp(verb, "up") == 0)
            execl("/proc/self/exe", "chainfs", "up", "--dir", settings->cluster_dir, "--fast",
                  (char *)NULL);
        else
            execl("/proc/self/exe", "chainfs", verb, "--dir", settings->cluster_dir, (char *)NULL);
        _exit(127);
    }
    int status = 0;
    for (int tick = 0; tick < timeout_s * 10; tick++) {
        if (waitpid(pid, &status, WNOHANG) == pid)
            return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        usleep(100000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    fprintf(stderr, "chainfs bench fuse: `chainfs %s` took over %d s; see %s\n", verb, timeout_s,
            log_path);
    return -1;
}

static int start_cluster(struct settings *settings)
{
    snprintf(settings->cluster_dir, sizeof(settings->cluster_dir),
             "/var/tmp/chainfs-bench-fuse-XXXXXX");
    if (!mkdtemp(settings->cluster_dir)) {
        fprintf(stderr, "chainfs bench fuse: cannot create a directory under /var/tmp: %s\n",
                strerror(errno));
        settings->cluster_dir[0] = '\0';
        return -1;
    }
    snprintf(settings->mountpoint, sizeof(settings->mountpoint), "%s/mnt", settings->cluster_dir);
    if (!settings->json)
        printf("starting a local cluster in %s ...\n", settings->cluster_dir);
    fflush(stdout);
    if (run_cluster_command(settings, "up", UP_TIMEOUT_S) != 0) {
        fprintf(stderr, "chainfs bench fuse: `chainfs up` failed; see %s/up.log and %s/log/\n",
                settings->cluster_dir, settings->cluster_dir);
        return -1;
    }
    return 0;
}

static int remove_entry(const char *path, const struct stat *info, int flag, struct FTW *walk)
{
    (void)info, (void)flag, (void)walk;
    remove(path);
    return 0;
}

/* Whether path is the root of a mount (its device differs from its parent's). */
static bool is_mounted(const char *path)
{
    char parent[600];
    snprintf(parent, sizeof(parent), "%s/..", path);
    struct stat own, above;
    return stat(path, &own) == 0 && stat(parent, &above) == 0 && own.st_dev != above.st_dev;
}

/* `chainfs down`, then the directory goes, unless something is still mounted there
 * (a down that had to SIGKILL a slow daemon still counts as down). */
static void stop_cluster(const struct settings *settings)
{
    if (settings->cluster_dir[0] == '\0')
        return;
    if (settings->keep) {
        fprintf(stderr, "cluster kept running: chainfs down --dir %s\n", settings->cluster_dir);
        return;
    }
    if (run_cluster_command(settings, "down", 120) != 0)
        fprintf(stderr, "chainfs bench fuse: `chainfs down` reported a problem; see %s/down.log\n",
                settings->cluster_dir);
    if (is_mounted(settings->mountpoint)) {
        fprintf(stderr, "chainfs bench fuse: %s is still mounted; %s is left in place\n",
                settings->mountpoint, settings->cluster_dir);
        return;
    }
    nftw(settings->cluster_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

/* --- fio ------------------------------------------------------------------------------ */

/* Whether the kernel lets a file in directory be opened with O_DIRECT. */
static bool direct_io_allowed(const char *directory)
{
    char path[700];
    snprintf(path, sizeof(path), "%s/direct-probe", directory);
    int descriptor = open(path, O_RDWR | O_CREAT | O_DIRECT, 0644);
    if (descriptor >= 0)
        close(descriptor);
    unlink(path);
    return descriptor >= 0;
}

struct fio_figures {
    double write_mib_s, read_mib_s, random_iops;
};

static int fio_step(const char *options, const char *section, const char *directory,
                    struct fio_result *result)
{
    if (interrupted)
        return -1;
    if (fio_run(options, section, result) == 0)
        return 0;
    fprintf(stderr, "chainfs bench fuse: fio failed in %s: fio %s\n", directory, options);
    return -1;
}

/* The three fio runs on a file in directory; 0 or -1. */
static int run_fio(const struct settings *settings, const char *directory,
                   struct fio_figures *figures)
{
    char options[1400], file[700];
    snprintf(file, sizeof(file), "%s/fio-file", directory);
    int direct = direct_io_allowed(directory) ? 1 : 0;
    const char *common = "--fallocate=none --ioengine=psync --bs=1M";
    struct fio_result result;
    snprintf(options, sizeof(options),
             "--name=seqwrite --filename='%s' --size=%llu --rw=write %s --direct=%d "
             "--end_fsync=1 --runtime=%d",
             file, settings->size, common, direct, FIO_SEQUENTIAL_CAP_S);
    if (fio_step(options, "write", directory, &result) != 0)
        return -1;
    figures->write_mib_s = result.mib_per_second;
    /* a capped write may have left a shorter file: read what is there */
    unsigned long long written = (unsigned long long)result.io_bytes / (1u << 20) * (1u << 20);
    if (written == 0 || written > settings->size)
        written = settings->size;
    snprintf(options, sizeof(options),
             "--name=seqread --filename='%s' --size=%llu --rw=read %s --direct=%d --runtime=%d",
             file, written, common, direct, FIO_SEQUENTIAL_CAP_S);
    if (fio_step(options, "read", directory, &result) != 0)
        return -1;
    figures->read_mib_s = result.mib_per_second;
    /* io_uring queues 32 reads per job: through FUSE they are served by io_uring's
     * workers in parallel, on the local disk by the block layer */
    snprintf(options, sizeof(options),
             "--name=randread --filename='%s' --size=%llu --rw=randread --bs=4k "
             "--ioengine=io_uring --iodepth=32 --numjobs=2 --group_reporting --direct=%d "
             "--fallocate=none --runtime=%d --time_based",
             file, written, direct, settings->random_seconds);
    if (fio_step(options, "read", directory, &result) != 0)
        return -1;
    figures->random_iops = result.iops;
    unlink(file);
    return 0;
}

/* --- files ---------------------------------------------------------------------------- */

enum phase { PHASE_CREATE, PHASE_STAT, PHASE_UNLINK };

struct file_worker {
    const char *directory;
    int index, files;
    enum phase phase;
    int error; /* errno of the first failure */
};

static void *file_worker_main(void *argument)
{
    struct file_worker *worker = argument;
    char path[800];
    for (int i = 0; i < worker->files && worker->error == 0 && !interrupted; i++) {
        snprintf(path, sizeof(path), "%s/t%d/f%d", worker->directory, worker->index, i);
        struct stat info;
        int result;
        if (worker->phase == PHASE_CREATE) {
            result = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
            if (result >= 0)
                result = close(result);
        } else if (worker->phase == PHASE_STAT) {
            result = stat(path, &info);
        } else {
            result = unlink(path);
        }
        if (result != 0)
            worker->error = errno;
    }
    return NULL;
}

/* Runs one phase with THREADS threads, each in its own subdirectory; ops/s or -1. */
static double run_file_phase(struct file_worker *workers, enum phase phase)
{
    pthread_t ids[THREADS];
    int started = 0;
    uint64_t start = clock_now_ns();
    for (int i = 0; i < THREADS; i++) {
        workers[i].phase = phase;
        if (pthread_create(&ids[i], NULL, file_worker_main, &workers[i]) != 0)
            break;
        started++;
    }
    long operations = 0;
    int error = started == THREADS ? 0 : EAGAIN;
    for (int i = 0; i < started; i++) {
        pthread_join(ids[i], NULL);
        operations += workers[i].files;
        if (workers[i].error)
            error = workers[i].error;
    }
    double seconds = (double)(clock_now_ns() - start) / 1e9;
    if (error || interrupted) {
        fprintf(stderr, "chainfs bench fuse: file phase %d in %s: %s\n", (int)phase,
                workers[0].directory, strerror(error ? error : EINTR));
        return -1;
    }
    return (double)operations / seconds;
}

/* create, stat, unlink rates in directory; 0 or -1. */
static int run_files(const struct settings *settings, const char *directory, double rates[3])
{
    struct file_worker workers[THREADS];
    char path[800];
    for (int i = 0; i < THREADS; i++) {
        snprintf(path, sizeof(path), "%s/t%d", directory, i);
        if (mkdir(path, 0755) != 0 && errno != EEXIST) {
            fprintf(stderr, "chainfs bench fuse: mkdir %s: %s\n", path, strerror(errno));
            return -1;
        }
        int share = settings->files / THREADS + (i < settings->files % THREADS ? 1 : 0);
        workers[i] = (struct file_worker){directory, i, share, PHASE_CREATE, 0};
    }
    for (int phase = PHASE_CREATE; phase <= PHASE_UNLINK; phase++) {
        rates[phase] = run_file_phase(workers, (enum phase)phase);
        if (rates[phase] < 0)
            return -1;
    }
    for (int i = 0; i < THREADS; i++) {
        snprintf(path, sizeof(path), "%s/t%d", directory, i);
        rmdir(path);
    }
    return 0;
}

/* --- the run -------------------------------------------------------------------------- */

static void report(const struct settings *settings, const char *figure, double value,
                   const char *unit, const char *limit, double limit_value)
{
    struct bench_figure line = {"fuse", figure, value, unit, limit, limit_value};
    bench_report_figure(&line, settings->json);
}

static int measure(struct settings *settings)
{
    struct fio_figures mount_fio = {0}, local_fio = {0};
    double mount_files[3], local_files[3];
    if (run_fio(settings, settings->mount_dir, &mount_fio) != 0 ||
        run_fio(settings, settings->local_dir, &local_fio) != 0)
        return -1;
    if (run_files(settings, settings->mount_dir, mount_files) != 0 ||
        run_files(settings, settings->local_dir, local_files) != 0)
        return -1;
    report(settings, "seq_write_1m", mount_fio.write_mib_s, "MiB/s", "local_disk_seq_write_1m",
           local_fio.write_mib_s);
    report(settings, "seq_read_1m", mount_fio.read_mib_s, "MiB/s", "local_disk_seq_read_1m",
           local_fio.read_mib_s);
    report(settings, "randread_4k_depth32x2", mount_fio.random_iops, "IOPS",
           "local_disk_randread_4k_depth32x2", local_fio.random_iops);
    static const char *const names[] = {"create", "stat", "unlink"};
    for (int phase = 0; phase < 3; phase++) {
        char figure[48], limit[64];
        snprintf(figure, sizeof(figure), "%s_%dthreads", names[phase], THREADS);
        snprintf(limit, sizeof(limit), "local_disk_%s_%dthreads", names[phase], THREADS);
        report(settings, figure, mount_files[phase], "ops/s", limit, local_files[phase]);
    }
    return 0;
}

static const char usage[] =
    "usage: chainfs bench fuse [--json] [--size BYTES] [--files N] [--mountpoint PATH] [--keep]\n"
    "                         [--seconds N]\n"
    "  --size BYTES       sequential file size (default 1073741824; suffixes K, M, G)\n"
    "  --files N          files created, stat'ed and unlinked (default 20000)\n"
    "  --mountpoint PATH  a mounted chainfs to use instead of starting `chainfs up`\n"
    "  --keep             leave the started cluster running\n"
    "  --seconds N        duration of each random-read run (default 15)\n";

static bool parse_size(const char *text, unsigned long long *size)
{
    char *end;
    errno = 0;
    unsigned long long value = strtoull(text, &end, 10);
    int shift = 0;
    if (*end == 'K' || *end == 'k')
        shift = 10;
    else if (*end == 'M' || *end == 'm')
        shift = 20;
    else if (*end == 'G' || *end == 'g')
        shift = 30;
    if (shift) /* "32M", "32MiB" and "32MB" all mean MiB */
        end += end[1] == 'i' && end[2] == 'B' ? 3 : end[1] == 'B' ? 2 : 1;
    if (errno || end == text || *end != '\0' || value == 0 || value > (1ull << 50) >> shift)
        return false;
    *size = value << shift;
    return *size >= (1u << 20);
}

static int parse_options(int argc, char **argv, struct settings *settings)
{
    static const struct option options[] = {
        {"json", no_argument, NULL, 'j'},          {"size", required_argument, NULL, 's'},
        {"files", required_argument, NULL, 'f'},   {"mountpoint", required_argument, NULL, 'm'},
        {"keep", no_argument, NULL, 'k'},          {"seconds", required_argument, NULL, 't'},
        {NULL, 0, NULL, 0}};
    int option;
    bool ok = true;
    char *end;
    optind = 1;
    while (ok && (option = getopt_long(argc, argv, "", options, NULL)) != -1) {
        switch (option) {
        case 'j': settings->json = true; break;
        case 'k': settings->keep = true; break;
        case 's': ok = parse_size(optarg, &settings->size); break;
        case 'f':
            settings->files = (int)strtol(optarg, &end, 10);
            ok = *end == '\0' && settings->files >= THREADS && settings->files <= 10000000;
            break;
        case 't':
            settings->random_seconds = (int)strtol(optarg, &end, 10);
            ok = *end == '\0' && settings->random_seconds >= 1 && settings->random_seconds <= 600;
            break;
        case 'm':
            ok = strlen(optarg) < sizeof(settings->mountpoint);
            snprintf(settings->mountpoint, sizeof(settings->mountpoint), "%s", optarg);
            break;
        default: ok = false;
        }
    }
    if (!ok || optind != argc) {
        fputs(usage, stderr);
        fprintf(stderr, "(--size at least 1M, --files at least %d)\n", THREADS);
        return 2;
    }
    return 0;
}

/* Makes the benchmark's directories: one in the mount, one on the local disk. */
static int make_directories(struct settings *settings)
{
    const char *local_parent = settings->cluster_dir[0] ? settings->cluster_dir : "/var/tmp";
    snprintf(settings->local_dir, sizeof(settings->local_dir), "%s/local-XXXXXX", local_parent);
    if (!mkdtemp(settings->local_dir)) {
        fprintf(stderr, "chainfs bench fuse: cannot create %s: %s\n", settings->local_dir,
                strerror(errno));
        settings->local_dir[0] = '\0';
        return -1;
    }
    snprintf(settings->mount_dir, sizeof(settings->mount_dir), "%s/bench-fuse-%d",
             settings->mountpoint, (int)getpid());
    if (mkdir(settings->mount_dir, 0755) != 0) {
        fprintf(stderr, "chainfs bench fuse: cannot create %s: %s\n", settings->mount_dir,
                strerror(errno));
        settings->mount_dir[0] = '\0';
        return -1;
    }
    return 0;
}

int fuse_bench_main(int argc, char **argv)
{
    struct settings settings = {.size = 1ull << 30, .files = 20000, .random_seconds = 15};
    if (parse_options(argc, argv, &settings) != 0)
        return 2;
    struct sigaction action = {.sa_handler = on_signal};
    sigaction(SIGINT, &action, NULL);
    sigaction(SIGTERM, &action, NULL);
    int status = settings.mountpoint[0] ? 0 : start_cluster(&settings);
    if (status == 0)
        status = make_directories(&settings);
    if (status == 0)
        status = measure(&settings);
    if (settings.mount_dir[0])
        nftw(settings.mount_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    if (settings.local_dir[0])
        nftw(settings.local_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    stop_cluster(&settings);
    if (interrupted)
        fprintf(stderr, "chainfs bench fuse: interrupted\n");
    return status == 0 && !interrupted ? 0 : 1;
}
