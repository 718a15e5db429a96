#include "control.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

namespace redd::daemon {

namespace {

constexpr std::uint64_t kListenToken = 0;

std::runtime_error sys_error(const std::string &what, int err) {
    return std::runtime_error(what + ": " + errno_name(err));
}

sockaddr_un socket_address(const std::string &path) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof(addr.sun_path)) {
        throw std::runtime_error("control socket path '" + path + "' is too long");
    }
    std::memcpy(static_cast<char *>(addr.sun_path), path.data(), path.size());
    return addr;
}

// mkdir -p with mode 0700 for every directory it creates.
void make_parent(const std::string &path, const Logger &log) {
    const auto slash = path.rfind('/');
    if (slash == std::string::npos || slash == 0) {
        return;
    }
    const std::string dir = path.substr(0, slash);
    struct stat st {};
    if (::stat(dir.c_str(), &st) == 0) {
        if (!S_ISDIR(st.st_mode)) {
            throw std::runtime_error("control socket directory '" + dir +
                                     "' exists and is not a directory");
        }
        if ((st.st_mode & 0077U) != 0) {
            log.info("control socket directory ", dir, " is accessible to other users (mode 0",
                     std::oct, st.st_mode & 07777U, std::dec,
                     "); the socket itself is 0600 and root-only");
        }
        return;
    }
    make_parent(dir, log);
    if (::mkdir(dir.c_str(), 0700) < 0 && errno != EEXIST) {
        throw sys_error("cannot create the control socket directory '" + dir + "'", errno);
    }
}

// A socket at `path` from an earlier redd: refuse if a process answers on
// it, remove it if nobody does.
void remove_stale(const std::string &path, const Logger &log) {
    struct stat st {};
    if (::lstat(path.c_str(), &st) < 0) {
        if (errno == ENOENT) {
            return;
        }
        throw sys_error("control socket '" + path + "'", errno);
    }
    if (!S_ISSOCK(st.st_mode)) {
        throw std::runtime_error("control socket path '" + path +
                                 "' exists and is not a socket: refusing to replace it");
    }
    UniqueFd probe(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!probe.valid()) {
        throw sys_error("socket", errno);
    }
    const sockaddr_un addr = socket_address(path);
    // NOLINTNEXTLINE(cppcoreguidelines-pro-type-reinterpret-cast): the sockets API
    if (::connect(probe.get(), reinterpret_cast<const sockaddr *>(&addr), sizeof(addr)) == 0) {
        throw std::runtime_error("another redd answers on the control socket '" + path +
                                 "': refusing to start");
    }
    if (errno != ECONNREFUSED) {
        throw sys_error("cannot probe the control socket '" + path + "'", errno);
    }
    if (::unlink(path.c_str()) < 0 && errno != ENOENT) {
        throw sys_error("cannot remove the stale control socket '" + path + "'", errno);
    }
    log.info("removed a stale control socket ", path);
}

} // namespace

ControlServer::ControlServer(std::string path, const Logger &log, Handler handler)
    : path_(std::move(path)), log_(log), handler_(std::move(handler)),
      epoll_(epoll_create1(EPOLL_CLOEXEC)) {
    if (!epoll_.valid()) {
        throw sys_error("epoll_create1", errno);
    }
    const sockaddr_un addr = socket_address(path_);
    make_parent(path_, log_);
    remove_stale(path_, log_);
    listen_ = UniqueFd(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!listen_.valid()) {
        throw sys_error("socket", errno);
    }
    // 0600 from the start: no window in which others could connect.
    const mode_t old_mask = ::umask(0177);
    // NOLINTNEXTLINE(cppcoreguidelines-pro-type-reinterpret-cast): the sockets API
    const int rc = ::bind(listen_.get(), reinterpret_cast<const sockaddr *>(&addr), sizeof(addr));
    const int bind_errno = errno;
    ::umask(old_mask);
    if (rc < 0) {
        throw sys_error("cannot bind the control socket '" + path_ + "'", bind_errno);
    }
    struct stat st {};
    if (::chmod(path_.c_str(), 0600) < 0 || ::stat(path_.c_str(), &st) < 0) {
        const int err = errno;
        ::unlink(path_.c_str());
        throw sys_error("control socket '" + path_ + "'", err);
    }
    dev_ = st.st_dev;
    ino_ = st.st_ino;
    if (::listen(listen_.get(), 16) < 0) {
        const int err = errno;
        ::unlink(path_.c_str());
        throw sys_error("listen on the control socket '" + path_ + "'", err);
    }
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = kListenToken;
    if (epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, listen_.get(), &ev) < 0) {
        const int err = errno;
        ::unlink(path_.c_str());
        throw sys_error("epoll_ctl", err);
    }
    log_.info("control socket ", path_);
}

ControlServer::~ControlServer() {
    clients_.clear();
    listen_.reset();
    // Only our own socket: a successor may have replaced it already.
    struct stat st {};
    if (::lstat(path_.c_str(), &st) == 0 && st.st_dev == dev_ && st.st_ino == ino_) {
        ::unlink(path_.c_str());
    }
}

std::size_t ControlServer::subscribers() const {
    std::size_t n = 0;
    for (const auto &[id, c] : clients_) {
        n += c.events ? 1 : 0;
    }
    return n;
}

void ControlServer::on_ready() {
    std::array<epoll_event, 32> events{};
    const int n = epoll_wait(epoll_.get(), events.data(), static_cast<int>(events.size()), 0);
    for (int i = 0; i < n; ++i) {
        const epoll_event &ev = events.at(static_cast<std::size_t>(i));
        if (ev.data.u64 == kListenToken) {
            on_accept();
        } else {
            on_client(ev.data.u64, ev.events);
        }
        reap();
    }
}

void ControlServer::tick() {
    const auto now = std::chrono::steady_clock::now();
    for (auto &[id, c] : clients_) {
        if (c.linger_until && now >= *c.linger_until) {
            close_client(id, "refused");
        }
    }
    reap();
}

void ControlServer::on_accept() {
    for (;;) {
        UniqueFd fd(accept4(listen_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
        if (!fd.valid()) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
                errno != ECONNABORTED) {
                log_.warn("control: accept: ", errno_name(errno));
            }
            return;
        }
        ucred cred{};
        socklen_t len = sizeof(cred);
        if (getsockopt(fd.get(), SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
            log_.warn("control: SO_PEERCRED: ", errno_name(errno), ": connection closed");
            continue;
        }
        const std::uint64_t id = next_id_++;
        Client c;
        c.fd = std::move(fd);
        c.uid = cred.uid;
        c.pid = cred.pid;
        const int raw = c.fd.get();
        auto [it, inserted] = clients_.emplace(id, std::move(c));
        (void)inserted;
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.u64 = id;
        if (epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, raw, &ev) < 0) {
            log_.warn("control: epoll_ctl: ", errno_name(errno));
            clients_.erase(it);
            continue;
        }
        if (cred.uid != 0) {
            log_.warn("control: refused a connection from uid ", cred.uid, " (pid ", cred.pid,
                      "): root only");
            send(id, it->second, error(kRootOnly).dump());
            it->second.closing = true;
            flush(id, it->second);
            continue;
        }
        if (clients_.size() > kMaxClients) {
            send(id, it->second, error("too many control connections").dump());
            it->second.closing = true;
            flush(id, it->second);
            continue;
        }
        log_.debug("control: client ", id, " connected (pid ", cred.pid, ")");
    }
}

void ControlServer::on_client(std::uint64_t id, std::uint32_t events) {
    auto it = clients_.find(id);
    if (it == clients_.end()) {
        return;
    }
    Client &c = it->second;
    if ((events & EPOLLOUT) != 0U) {
        flush(id, c);
    }
    if ((events & (EPOLLIN | EPOLLHUP | EPOLLERR)) == 0U) {
        return;
    }
    std::array<char, 16384> buf{};
    for (;;) {
        const ssize_t n = ::read(c.fd.get(), buf.data(), buf.size());
        if (n > 0) {
            if (!c.events && !c.closing) {
                c.in.append(buf.data(), static_cast<std::size_t>(n));
            }
            if (c.in.size() > kMaxQueued) {
                close_client(id, "too much input");
                return;
            }
            // A line longer than the limit: no need to read more of it.
            if (c.in.size() > kMaxLine && c.in.find('\n') == std::string::npos) {
                break;
            }
            continue;
        }
        if (n == 0) {
            close_client(id, "closed by the client");
            return;
        }
        if (errno == EINTR) {
            continue;
        }
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            close_client(id, "read: " + errno_name(errno));
            return;
        }
        break;
    }
    process(id);
}

void ControlServer::process(std::uint64_t id) {
    const std::uint64_t outer = dispatching_;
    dispatching_ = id;
    for (;;) {
        auto it = clients_.find(id);
        if (it == clients_.end()) {
            break;
        }
        Client &c = it->second;
        if (c.busy || c.events || c.closing) {
            break;
        }
        const auto nl = c.in.find('\n');
        if (nl == std::string::npos) {
            if (c.in.size() > kMaxLine) {
                send(id, c,
                     error("request longer than " + std::to_string(kMaxLine) + " bytes").dump());
                c.closing = true;
            }
            break;
        }
        if (nl > kMaxLine) {
            send(id, c, error("request longer than " + std::to_string(kMaxLine) + " bytes").dump());
            c.closing = true;
            break;
        }
        std::string line = c.in.substr(0, nl);
        c.in.erase(0, nl + 1);
        if (!line.empty() && line.back() == '\r') {
            line.pop_back();
        }
        Json request = Json::parse(line, nullptr, false);
        if (request.is_discarded() || !request.is_object()) {
            send(id, c, error("malformed request: expected one JSON object per line").dump());
            c.closing = true;
            break;
        }
        auto cmd = request.find("cmd");
        if (cmd == request.end() || !cmd->is_string()) {
            send(id, c, error("malformed request: no \"cmd\" string").dump());
            c.closing = true;
            break;
        }
        c.busy = true;
        handler_(id, request);
    }
    dispatching_ = outer;
    auto it = clients_.find(id);
    if (it != clients_.end()) {
        flush(id, it->second);
    }
}

void ControlServer::reply(std::uint64_t client, const Json &body) {
    auto it = clients_.find(client);
    if (it == clients_.end() || !it->second.busy) {
        return;
    }
    it->second.busy = false;
    send(client, it->second, body.dump(-1, ' ', false, Json::error_handler_t::replace));
    if (dispatching_ != client) {
        process(client); // a later answer: read what the client sent meanwhile
    }
}

void ControlServer::subscribe(std::uint64_t client, const std::vector<Json> &first) {
    auto it = clients_.find(client);
    if (it == clients_.end() || !it->second.busy) {
        return;
    }
    Client &c = it->second;
    c.busy = false;
    c.events = true;
    c.in.clear();
    send(client, c, Json{{"ok", true}}.dump());
    for (const Json &line : first) {
        send(client, c, line.dump(-1, ' ', false, Json::error_handler_t::replace));
    }
    if (dispatching_ != client) {
        flush(client, c);
    }
}

void ControlServer::broadcast(const Json &line) {
    std::string text;
    for (auto &[id, c] : clients_) {
        if (!c.events || c.closing) {
            continue;
        }
        if (text.empty()) {
            text = line.dump(-1, ' ', false, Json::error_handler_t::replace);
        }
        send(id, c, text);
        flush(id, c);
    }
    reap();
}

void ControlServer::send(std::uint64_t id, Client &c, const std::string &line) {
    if (c.out.size() + line.size() + 1 > kMaxQueued) {
        log_.warn("control: client ", id, " (pid ", c.pid, ") does not read its ",
                  c.events ? "events" : "replies", ": disconnected");
        close_client(id, "slow reader");
        return;
    }
    c.out.append(line);
    c.out.push_back('\n');
}

void ControlServer::flush(std::uint64_t id, Client &c) {
    if (!c.fd.valid()) {
        return; // closed already
    }
    while (!c.out.empty()) {
        const ssize_t n = ::send(c.fd.get(), c.out.data(), c.out.size(), MSG_NOSIGNAL);
        if (n > 0) {
            c.out.erase(0, static_cast<std::size_t>(n));
            continue;
        }
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            break;
        }
        close_client(id, "write: " + errno_name(errno));
        return;
    }
    if (c.out.empty() && c.closing && !c.linger_until) {
        (void)::shutdown(c.fd.get(), SHUT_WR);
        c.linger_until = std::chrono::steady_clock::now() + kLinger;
    }
    update_interest(id, c);
}

void ControlServer::update_interest(std::uint64_t id, Client &c) {
    const bool want = !c.out.empty();
    if (want == c.want_out) {
        return;
    }
    c.want_out = want;
    epoll_event ev{};
    ev.events = EPOLLIN | (want ? EPOLLOUT : 0U);
    ev.data.u64 = id;
    (void)epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, c.fd.get(), &ev);
}

void ControlServer::close_client(std::uint64_t id, const std::string &why) {
    auto it = clients_.find(id);
    if (it == clients_.end()) {
        return;
    }
    if (std::find(doomed_.begin(), doomed_.end(), id) != doomed_.end()) {
        return;
    }
    log_.debug("control: client ", id, " closed: ", why);
    (void)epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, it->second.fd.get(), nullptr);
    // Stop everything on it now; the record goes in reap().
    it->second.events = false;
    it->second.busy = false;
    it->second.closing = true;
    it->second.out.clear();
    it->second.in.clear();
    it->second.fd.reset();
    doomed_.push_back(id);
}

void ControlServer::reap() {
    if (dispatching_ != 0) {
        return;
    }
    for (std::uint64_t id : doomed_) {
        clients_.erase(id);
    }
    doomed_.clear();
}

} // namespace redd::daemon
