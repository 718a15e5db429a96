#include "system.hpp"

#include "cli.hpp"

#include <libdevmapper.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <linux/fs.h>
#include <memory>
#include <spawn.h>
#include <sstream>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <system_error>
#include <thread>
#include <unistd.h>

extern char **environ; // NOLINT(readability-redundant-declaration): for posix_spawnp

namespace redctl {
namespace {

namespace fs = std::filesystem;

constexpr const char *kZramControl = "/sys/class/zram-control";

struct TaskDeleter {
    void operator()(dm_task *task) const { dm_task_destroy(task); }
};
using Task = std::unique_ptr<dm_task, TaskDeleter>;

Task make_task(int type, const std::string &name) {
    Task task(dm_task_create(type));
    if (!task) {
        throw Failure(exit_code::kFailed, "device-mapper is not available (is dm-mod loaded?)");
    }
    if (dm_task_set_name(task.get(), name.c_str()) == 0) {
        throw Failure(exit_code::kFailed, "device-mapper: bad device name '" + name + "'");
    }
    return task;
}

// Runs a task that changes a device, with udev synchronisation (a no-op
// without udev or with DM_DISABLE_UDEV=1).  Returns 0 or the errno.
int run_with_cookie(dm_task *task) {
    std::uint32_t cookie = 0;
    int err = 0;
    if (dm_task_set_cookie(task, &cookie, 0) == 0 || dm_task_run(task) == 0) {
        err = dm_task_get_errno(task);
        if (err == 0) {
            err = EIO;
        }
    }
    (void)dm_udev_wait(cookie);
    return err;
}

// The first target of a TABLE or STATUS task: type and parameters.
std::optional<std::pair<std::string, std::string>> first_target(int type, const std::string &name) {
    auto task = make_task(type, name);
    if (dm_task_run(task.get()) == 0) {
        return std::nullopt;
    }
    std::uint64_t start = 0;
    std::uint64_t length = 0;
    char *target = nullptr;
    char *params = nullptr;
    (void)dm_get_next_target(task.get(), nullptr, &start, &length, &target, &params);
    if (target == nullptr) {
        return std::nullopt;
    }
    return std::make_pair(std::string(target), params != nullptr ? std::string(params) : "");
}

UniqueFd open_path(const std::string &path, int flags) {
    return UniqueFd(::open(path.c_str(), flags)); // NOLINT(cppcoreguidelines-pro-type-vararg)
}

void write_sysfs(const std::string &path, const std::string &value) {
    const UniqueFd fd = open_path(path, O_WRONLY | O_CLOEXEC);
    if (!fd.valid()) {
        throw Failure(exit_code::kFailed, "cannot open " + path + ": " + errno_text(errno));
    }
    const ssize_t n = ::write(fd.get(), value.data(), value.size());
    if (n < 0 || static_cast<std::size_t>(n) != value.size()) {
        throw Failure(exit_code::kFailed, "cannot write '" + value + "' to " + path + ": " +
                                              errno_text(n < 0 ? errno : EIO));
    }
}

std::optional<std::string> read_sysfs(const std::string &path) {
    std::ifstream in(path);
    std::string text;
    if (!in || !std::getline(in, text)) {
        return std::nullopt;
    }
    return text;
}

std::optional<int> parse_index(std::string_view text) {
    int value = 0;
    const auto *const end = text.data() + text.size();
    auto [ptr, ec] = std::from_chars(text.data(), end, value);
    if (text.empty() || ec != std::errc() || ptr != end || value < 0) {
        return std::nullopt;
    }
    return value;
}

std::optional<int> index_from_name(std::string_view name) {
    if (!name.starts_with("zram")) {
        return std::nullopt;
    }
    return parse_index(name.substr(4));
}

// Runs "modprobe zram num_devices=0" and waits for it.
void load_zram_module() {
    std::array<std::string, 3> words = {"modprobe", "zram", "num_devices=0"};
    std::array<char *, 4> argv = {words[0].data(), words[1].data(), words[2].data(), nullptr};
    pid_t pid = 0;
    const int err = posix_spawnp(&pid, "modprobe", nullptr, nullptr, argv.data(), environ);
    if (err != 0) {
        throw Failure(exit_code::kFailed, "cannot run modprobe zram: " + errno_text(err));
    }
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        throw Failure(exit_code::kFailed, "modprobe zram failed (is zram available?)");
    }
}

} // namespace

std::string errno_text(int err) {
    std::array<char, 256> buf{};
    // GNU strerror_r returns the message (maybe not in buf).
    return ::strerror_r(err, buf.data(), buf.size());
}

DmLibrary::~DmLibrary() {
    dm_lib_release();
    dm_lib_exit();
}

DeviceView dm_inspect(const std::string &name) {
    DeviceView view;
    auto task = make_task(DM_DEVICE_INFO, name);
    if (dm_task_run(task.get()) == 0) {
        throw Failure(exit_code::kFailed,
                      "device-mapper: cannot get the info of " + name + " (is dm-mod loaded?)");
    }
    dm_info info{};
    if (dm_task_get_info(task.get(), &info) == 0 || info.exists == 0) {
        return view;
    }
    view.present = true;
    view.open_count = info.open_count;
    view.suspended = info.suspended != 0;
    if (auto table = first_target(DM_DEVICE_TABLE, name)) {
        view.target = table->first;
        if (view.target == "red") {
            view.table = parse_table_params(table->second);
        }
    }
    if (auto status = first_target(DM_DEVICE_STATUS, name)) {
        view.raw_status = status->second;
        if (view.target == "red") {
            view.status = parse_status_params(status->second);
        }
    }
    return view;
}

void dm_create(const std::string &name, std::uint64_t sectors, const std::string &params) {
    auto task = make_task(DM_DEVICE_CREATE, name);
    if (dm_task_add_target(task.get(), 0, sectors, "red", params.c_str()) == 0) {
        throw Failure(exit_code::kFailed, "device-mapper: cannot add the target (out of memory?)");
    }
    if (const int err = run_with_cookie(task.get()); err != 0) {
        throw Failure(exit_code::kFailed, "device-mapper: cannot create " + name + ": " +
                                              errno_text(err) +
                                              " (the kernel log says why: dmesg | tail)");
    }
}

void dm_remove(const std::string &name) {
    auto task = make_task(DM_DEVICE_REMOVE, name);
    if (const int err = run_with_cookie(task.get()); err != 0) {
        throw Failure(err == EBUSY ? exit_code::kBusy : exit_code::kFailed,
                      "device-mapper: cannot remove " + name + ": " + errno_text(err));
    }
}

int dm_message(const std::string &name, const std::string &message) {
    auto task = make_task(DM_DEVICE_TARGET_MSG, name);
    if (dm_task_set_sector(task.get(), 0) == 0 ||
        dm_task_set_message(task.get(), message.c_str()) == 0) {
        return ENOMEM;
    }
    if (dm_task_run(task.get()) == 0) {
        const int err = dm_task_get_errno(task.get());
        return err != 0 ? err : EIO;
    }
    return 0;
}

std::uint64_t block_device_bytes(const std::string &path, const std::string &what) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
        throw Failure(exit_code::kNoLun, what + " " + path + ": " + errno_text(errno));
    }
    if (!S_ISBLK(st.st_mode)) {
        throw Failure(exit_code::kNoLun, what + " " + path + " is not a block device");
    }
    const UniqueFd fd = open_path(path, O_RDONLY | O_CLOEXEC);
    if (!fd.valid()) {
        throw Failure(exit_code::kNoLun,
                      "cannot open " + what + " " + path + ": " + errno_text(errno));
    }
    std::uint64_t bytes = 0;
    if (::ioctl(fd.get(), BLKGETSIZE64, &bytes) != 0) { // NOLINT(cppcoreguidelines-pro-type-vararg)
        throw Failure(exit_code::kNoLun,
                      "cannot get the size of " + what + " " + path + ": " + errno_text(errno));
    }
    return bytes;
}

LunRecord read_lun_record(const std::string &lun) {
    try {
        const redd::lunmeta::Area area(lun);
        LunRecord out;
        out.record = area.read_record(&out.why);
        return out;
    } catch (const std::system_error &e) {
        throw Failure(exit_code::kNoLun,
                      "cannot read the LUN's metadata area (" + std::string(e.what()) + ")");
    }
}

UpRole read_role(const redd::ResourceConfig &resource, std::uint32_t node_id, bool allow_damaged) {
    const auto lun = read_lun_record(resource.lun);
    auto out = role_for_up(resource, node_id, lun.record, lun.why, allow_damaged);
    if (!out.refusal.empty()) {
        throw Failure(exit_code::kNoLun, out.refusal);
    }
    return out;
}

std::uint64_t rewrite_damaged_record(const redd::ResourceConfig &resource, std::uint32_t node_id) {
    try {
        const redd::lunmeta::Area area(resource.lun);
        std::uint64_t epoch = 0;
        for (std::uint32_t n = 1; n <= redd::lunmeta::kMaxNode; ++n) {
            if (const auto slot = area.read_slot(n)) {
                epoch = std::max(epoch, slot->epoch);
            }
        }
        const redd::lunmeta::EpochRecord record{resource.name, epoch + 1, node_id, false, {}, 1};
        std::string why;
        if (!area.write_record_if(record, std::nullopt, true, &why)) {
            throw Failure(exit_code::kNoLun,
                          "the epoch record on " + resource.lun + " was not rewritten: " + why);
        }
        return record.epoch;
    } catch (const std::system_error &e) {
        throw Failure(exit_code::kNoLun,
                      "cannot rewrite the LUN's epoch record (" + std::string(e.what()) + ")");
    }
}

int run_shell(const std::string &command, const std::vector<std::string> &env) {
    std::vector<std::string> strings;
    for (char **e = environ; *e != nullptr;
         ++e) { // NOLINT(cppcoreguidelines-pro-bounds-pointer-arithmetic)
        const std::string_view entry(*e);
        const bool replaced = std::any_of(env.begin(), env.end(), [&](const std::string &mine) {
            const auto eq = mine.find('=');
            return entry.substr(0, eq + 1) == std::string_view(mine).substr(0, eq + 1);
        });
        if (!replaced) {
            strings.emplace_back(entry);
        }
    }
    strings.insert(strings.end(), env.begin(), env.end());
    std::vector<char *> envp;
    envp.reserve(strings.size() + 1);
    for (auto &entry : strings) {
        envp.push_back(entry.data());
    }
    envp.push_back(nullptr);
    std::array<std::string, 3> words = {"sh", "-c", command};
    std::array<char *, 4> argv = {words[0].data(), words[1].data(), words[2].data(), nullptr};
    pid_t pid = 0;
    const int err = posix_spawn(&pid, "/bin/sh", nullptr, nullptr, argv.data(), envp.data());
    if (err != 0) {
        throw Failure(exit_code::kFailed, "cannot run /bin/sh: " + errno_text(err));
    }
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            throw Failure(exit_code::kFailed, "waitpid: " + errno_text(errno));
        }
    }
    if (WIFSIGNALED(status)) {
        return 128 + WTERMSIG(status);
    }
    return WEXITSTATUS(status);
}

std::optional<int> zram_index(const std::string &device) {
    std::string sys;
    struct stat st {};
    if (::stat(device.c_str(), &st) == 0 && S_ISBLK(st.st_mode)) {
        sys = "/sys/dev/block/" + std::to_string(major(st.st_rdev)) + ":" +
              std::to_string(minor(st.st_rdev));
    } else if (device.find(':') != std::string::npos && device.find('/') == std::string::npos) {
        sys = "/sys/dev/block/" + device;
    } else if (device.starts_with("/dev/")) {
        return index_from_name(std::string_view(device).substr(5));
    } else {
        return std::nullopt;
    }
    std::error_code ec;
    const auto target = fs::read_symlink(sys, ec);
    if (ec) {
        return std::nullopt;
    }
    return index_from_name(target.filename().string());
}

int zram_hot_add() {
    if (!fs::exists(kZramControl)) {
        load_zram_module();
    }
    const std::string path = std::string(kZramControl) + "/hot_add";
    auto text = read_sysfs(path);
    if (!text) {
        throw Failure(exit_code::kFailed,
                      "cannot add a zram device (" + path + "): " + errno_text(errno));
    }
    auto index = parse_index(*text);
    if (!index) {
        throw Failure(exit_code::kFailed, path + " gave '" + *text + "'");
    }
    return *index;
}

void zram_set_disksize(int index, std::uint64_t bytes) {
    write_sysfs("/sys/block/zram" + std::to_string(index) + "/disksize", std::to_string(bytes));
}

void zram_reset(int index) {
    write_sysfs("/sys/block/zram" + std::to_string(index) + "/reset", "1");
}

void zram_hot_remove(int index) {
    write_sysfs(std::string(kZramControl) + "/hot_remove", std::to_string(index));
}

std::optional<std::uint64_t> zram_mem_used(int index) {
    auto text = read_sysfs("/sys/block/zram" + std::to_string(index) + "/mm_stat");
    if (!text) {
        return std::nullopt;
    }
    std::istringstream in(*text);
    std::uint64_t orig = 0;
    std::uint64_t compr = 0;
    std::uint64_t used = 0;
    if (!(in >> orig >> compr >> used)) {
        return std::nullopt;
    }
    return used;
}

std::string zram_device_path(int index) {
    std::string path = "/dev/zram" + std::to_string(index);
    for (int i = 0; i < 50; ++i) {
        struct stat st {};
        if (::stat(path.c_str(), &st) == 0 && S_ISBLK(st.st_mode)) {
            return path;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    throw Failure(exit_code::kFailed, path + " did not appear");
}

} // namespace redctl
