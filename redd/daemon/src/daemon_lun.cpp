// The LUN's metadata in redd (lunmeta.hpp, Documentation/lun-metadata.rst):
// the epoch record and the heartbeat slots, the role that follows from
// them, fencing of a superseded writer, promotion and demotion.
//
// Rules:
// 1. Whoever writes the LUN writes the epoch record first: a writer before
//    every new epoch and before it stops waiting for an expelled copier, a
//    promoting copier before its kernel's PROMOTE.  A copier not named in
//    the record may have missed preserves: it is expelled (its device
//    fails) and must be gc'd.
// 2. A writer re-reads the record before every renewal of its write lease
//    and renews only while the record names it.  Once another node's record
//    is on the LUN, the old writer's lease therefore ends within one lease
//    period at most, even if it is cut off from every peer; it ends at once
//    (LEASE 0) when it sees the record.
// 3. A promotion is allowed when the old writer is certainly gone: this
//    copier lost its read lease, and a majority of the configured nodes
//    (this one included) are alive on the LUN and out of contact with the
//    writer.  Then it writes the record and sends PROMOTE once the old
//    writer's lease has certainly ended: at once if its heartbeat slot has
//    not moved for lease + margin or shows it back without a writer device
//    (rebooted), else lease + margin after the record.
#include "daemon.hpp"

#include <algorithm>
#include <linux/dm-red.h>
#include <system_error>

namespace redd::daemon {

namespace {

bool contains(const std::vector<std::uint32_t> &v, std::uint32_t x) {
    return std::find(v.begin(), v.end(), x) != v.end();
}

Json node_list(const std::vector<std::uint32_t> &v) {
    Json a = Json::array();
    for (std::uint32_t n : v) {
        a.push_back(n);
    }
    return a;
}

std::int64_t ms_until(TimePoint from, TimePoint to) {
    return std::chrono::duration_cast<Millis>(to - from).count();
}

} // namespace

bool Daemon::writes(const Resource &r) const {
    if (r.promotion) {
        return r.promotion->accepted;
    }
    if (r.record && r.record->resource == r.config->name) {
        return r.record->writer == config_.node_id();
    }
    return r.config->writer == config_.node_id();
}

void Daemon::open_area(Resource &r) {
    try {
        r.area = std::make_unique<lunmeta::Area>(r.config->lun);
        if (!r.area_error.empty()) {
            log_.info(r.config->name, ": the LUN's metadata area is readable again");
        }
        r.area_error.clear();
    } catch (const std::system_error &e) {
        if (r.area_error != e.what()) {
            log_.error(r.config->name, ": cannot use the LUN's metadata area: ", e.what());
            r.area_error = e.what();
        }
    }
}

bool Daemon::read_record(Resource &r) {
    if (!r.area) {
        open_area(r);
        if (!r.area) {
            return false;
        }
    }
    try {
        std::string why;
        auto rec = r.area->read_record(&why);
        if (!rec && why != lunmeta::kBlank) {
            // Damaged is not absent: it may have named another writer.  The
            // last record read stays this node's view; a writer does not
            // renew its lease on it, and no record is written over it but
            // by an operator's override (redctl up --force on the writer,
            // promote --force).
            if (why != r.record_error) {
                log_.error(
                    r.config->name, ": the LUN's epoch record is damaged (", why, "): not used; ",
                    r.record ? "the last one read was epoch " + std::to_string(r.record->epoch) +
                                   ", writer node " + std::to_string(r.record->writer)
                             : std::string("no record was read before"),
                    "; see redctl(8), up --force");
                emit(r.config->name, "record-damaged", Json{{"reason", why}});
            }
            r.record_error = why;
            return false;
        }
        if (rec && record_damaged(r)) {
            log_.info(r.config->name, ": the LUN's epoch record is readable again: epoch ",
                      rec->epoch, ", writer node ", rec->writer);
        }
        r.record_error = rec ? "" : why;
        if (rec && rec->resource != r.config->name) {
            if (r.record_error != "foreign") {
                log_.error(r.config->name, ": the LUN's epoch record belongs to resource '",
                           rec->resource, "': is `lun` right in the configuration?");
            }
            r.record_error = "foreign";
            rec.reset();
            r.record.reset();
            return false;
        }
        r.record = std::move(rec);
        return true;
    } catch (const std::system_error &e) {
        log_.error(r.config->name, ": reading the LUN's epoch record: ", e.what());
        r.area.reset();
        return false;
    }
}

bool Daemon::write_record(Resource &r, std::uint64_t epoch,
                          const std::vector<std::uint32_t> &members, bool resigned,
                          bool overwrite_damaged) {
    if (!r.area) {
        open_area(r);
        if (!r.area) {
            return false;
        }
    }
    lunmeta::EpochRecord rec;
    rec.resource = r.config->name;
    rec.epoch = epoch;
    rec.writer = config_.node_id();
    rec.resigned = resigned;
    rec.members = members;
    std::sort(rec.members.begin(), rec.members.end());
    rec.members.erase(std::unique(rec.members.begin(), rec.members.end()), rec.members.end());
    rec.generation = r.record ? r.record->generation + 1 : 1;
    try {
        // Only over the record this node read (rule 5): a promoting copier
        // may have written a newer one since.
        std::string why;
        if (!r.area->write_record_if(rec, r.record, overwrite_damaged, &why)) {
            log_.error(r.config->name, ": the epoch record of epoch ", rec.epoch,
                       " was not written: ", why);
            emit(r.config->name, "record-conflict", Json{{"epoch", rec.epoch}, {"reason", why}});
            r.next_disk = TimePoint{}; // re-read and follow it at once
            return false;
        }
    } catch (const std::system_error &e) {
        log_.error(r.config->name, ": writing the LUN's epoch record: ", e.what());
        r.area.reset();
        return false;
    }
    if (!r.record || r.record->epoch != rec.epoch || r.record->members != rec.members ||
        r.record->writer != rec.writer || r.record->resigned != rec.resigned) {
        log_.info(r.config->name, ": LUN epoch record: epoch ", rec.epoch, " writer ", rec.writer,
                  resigned ? " (resigned)" : "", " members ", node_list(rec.members).dump());
        emit(r.config->name, "lun-epoch",
             Json{{"epoch", rec.epoch},
                  {"writer", rec.writer},
                  {"resigned", rec.resigned},
                  {"members", node_list(rec.members)}});
    }
    r.record = std::move(rec);
    return true;
}

bool Daemon::slot_alive(const Resource &r, std::uint32_t node, TimePoint now) const {
    auto it = r.slots.find(node);
    return it != r.slots.end() &&
           now - it->second.changed < config_.lease() + config_.lease_margin();
}

void Daemon::disk_tick(Resource &r, TimePoint now) {
    if (now < r.next_disk) {
        return;
    }
    r.next_disk = now + config_.heartbeat();
    if (!r.area) {
        open_area(r);
        if (!r.area) {
            return;
        }
    }
    if (r.slot_counter == 0) {
        r.slot_counter = next_request(); // differs from any earlier life's
    }
    lunmeta::NodeSlot own;
    own.node = config_.node_id();
    own.counter = ++r.slot_counter;
    own.role = !r.present                     ? lunmeta::SlotRole::None
               : r.role == DM_RED_ROLE_WRITER ? lunmeta::SlotRole::Writer
                                              : lunmeta::SlotRole::Copier;
    own.epoch = r.epoch;
    if (r.writer) {
        own.writer_contact = r.present && !r.fenced;
    } else if (r.local) {
        const auto expiry = r.local->lease().expiry();
        own.writer_contact = expiry && *expiry > now;
    }
    own.store_used = r.store_used;
    try {
        // Only once the kernel's devices are known: a slot without a
        // writer role tells a promoting node there is nothing to fence here.
        if (own.node <= lunmeta::kMaxNode && dumped_) {
            r.area->write_slot(own);
        }
        for (const auto &[id, peer] : peers_) {
            auto slot = r.area->read_slot(id);
            if (!slot) {
                continue;
            }
            auto [it, fresh] = r.slots.try_emplace(id, SlotSeen{*slot, now});
            if (!fresh && it->second.slot.counter != slot->counter) {
                it->second.changed = now;
            }
            it->second.slot = *slot;
        }
    } catch (const std::system_error &e) {
        log_.error(r.config->name, ": LUN heartbeat: ", e.what());
        r.area.reset();
        return;
    }
    if (read_record(r)) {
        follow_record(r, now);
    }
}

void Daemon::follow_record(Resource &r, TimePoint now) {
    const std::uint32_t self = config_.node_id();
    const std::string &name = r.config->name;
    if (!r.record) {
        if (r.writer_node == 0 && !r.promotion) {
            r.writer_node = r.config->writer;
        }
        return;
    }
    const lunmeta::EpochRecord &rec = *r.record;
    if (rec.writer != r.writer_node) {
        if (r.writer_node != 0) {
            log_.info(name, ": the LUN names node ", rec.writer, " the writer at epoch ", rec.epoch,
                      " (was node ", r.writer_node, ")");
            emit(name, "writer-changed",
                 Json{{"writer", rec.writer}, {"epoch", rec.epoch}, {"previous", r.writer_node}});
        }
        r.writer_node = rec.writer;
        r.join_sent = TimePoint{};
        if (rec.writer != self) {
            r.writer_epoch = std::max(r.writer_epoch, rec.epoch);
        }
    }
    // A writer device on this node while the LUN names another writer: fenced.
    if (r.present && r.role == DM_RED_ROLE_WRITER && rec.writer != self && !r.fenced) {
        r.fenced = true;
        r.writer = false;
        r.usable = false;
        r.write_lease.reset();
        log_.error(name, ": the LUN names node ", rec.writer, " the writer at epoch ", rec.epoch,
                   ": this node is fenced (write lease ended); stop the DBMS, remove the device "
                   "(redctl down) and bring it up again as a copier");
        emit(name, "fenced", Json{{"writer", rec.writer}, {"epoch", rec.epoch}});
        kernel_->lease(name, 0, [this, name](int err, const std::string &extack) {
            if (err != 0) {
                log_.error(name, ": LEASE 0 (fencing) refused: ", errno_name(err), " ", extack);
            }
        });
        return;
    }
    if (r.fenced) {
        return;
    }
    r.writer = writes(r);
    // A member copier that the record does not name missed preserves.
    if (!r.writer && rec.writer != self && r.present && r.role == DM_RED_ROLE_COPIER && !r.down &&
        !r.expelled && r.local && r.local->state() == LocalState::Member &&
        (r.state == DM_RED_STATE_ACTIVE || r.state == kStateHeld) && !contains(rec.members, self)) {
        r.expelled = true;
        log_.error(name, ": not a member of epoch ", rec.epoch, " on the LUN (writer node ",
                   rec.writer, "): the device fails from now on; stop the DBMS and gc it");
        emit(name, "expelled", Json{{"writer", rec.writer}, {"epoch", rec.epoch}});
        r.local->leave(now);
        kernel_->lease(name, 0, [this, name](int err, const std::string &extack) {
            if (err != 0) {
                log_.error(name, ": LEASE 0 (expelled) refused: ", errno_name(err), " ", extack);
            }
        });
    }
}

bool Daemon::record_damaged(const Resource &r) {
    return !r.record_error.empty() && r.record_error != lunmeta::kBlank &&
           r.record_error != "foreign";
}

Json Daemon::promotion_status(const Promotion &p, TimePoint now) {
    return Json{{"epoch", p.epoch},
                {"members", node_list(p.members)},
                {"accepted", p.accepted},
                {"fence_wait_left_ms", std::max<std::int64_t>(0, ms_until(now, p.at))}};
}

std::string Daemon::promote_refusal(const Resource &r, TimePoint now, bool force) const {
    const std::uint32_t self = config_.node_id();
    if (r.promotion) {
        return "a promotion is already under way (epoch " + std::to_string(r.promotion->epoch) +
               ")";
    }
    if (r.writer) {
        return "this node is the writer already";
    }
    if (!r.present) {
        return "no device for the resource on this node";
    }
    if (r.role != DM_RED_ROLE_COPIER) {
        return "the device is not a copier";
    }
    if (r.state != DM_RED_STATE_ACTIVE && r.state != kStateHeld) {
        return "the copier device is " + std::string(state_name(r.state)) +
               ": only an active or held copier can be promoted";
    }
    if (r.down) {
        return "the resource is down on this node (redctl up first)";
    }
    if (r.expelled) {
        return "this copier was expelled: gc it and rejoin";
    }
    if (!r.area) {
        return "the LUN's metadata area cannot be used: " + r.area_error;
    }
    if (record_damaged(r) && !force) {
        return "the LUN's epoch record is damaged (" + r.record_error +
               "): promote --force writes a new one over it";
    }
    if (!r.record) {
        return "no epoch record on the LUN: no writer has recorded its copiers";
    }
    const lunmeta::EpochRecord &rec = *r.record;
    if (!contains(rec.members, self)) {
        return "not a member of epoch " + std::to_string(rec.epoch) +
               " on the LUN: this copier may have missed preserves; gc it";
    }
    if (force || rec.resigned) {
        return {};
    }
    const std::uint32_t old = rec.writer;
    if (r.local) {
        if (auto expiry = r.local->lease().expiry(); expiry && *expiry > now) {
            return "node " + std::to_string(old) + " still grants this copier its read lease (" +
                   std::to_string(ms_until(now, *expiry)) + " ms left): the writer is alive";
        }
    }
    std::size_t agree = 1;
    for (const auto &[id, seen] : r.slots) {
        if (id != old && id != self && slot_alive(r, id, now) && !seen.slot.writer_contact) {
            ++agree;
        }
    }
    const std::size_t total = config_.nodes().size();
    if (2 * agree <= total) {
        return "only " + std::to_string(agree) + " of the " + std::to_string(total) +
               " configured nodes are alive on the LUN and out of contact with node " +
               std::to_string(old) + " (more than half must be)";
    }
    return {};
}

void Daemon::control_promote(std::uint64_t client, Resource &r, bool force) {
    const TimePoint now = Clock::now();
    const std::string &name = r.config->name;
    // Fresh facts: the record and the slots as of now.
    r.next_disk = TimePoint{};
    disk_tick(r, now);
    if (r.promotion) {
        // Asked again while one runs: not an error of the operator's; the
        // reply says where the running one is, and redctl follows it.
        log_.info(name, ": promote asked again: the promotion to epoch ", r.promotion->epoch,
                  " is under way");
        Json reply = ControlServer::error("a promotion is already under way (epoch " +
                                          std::to_string(r.promotion->epoch) + ")");
        reply["promoting"] = promotion_status(*r.promotion, now);
        control_->reply(client, reply);
        return;
    }
    if (const std::string why = promote_refusal(r, now, force); !why.empty()) {
        log_.warn(name, ": promote refused: ", why);
        control_->reply(client, ControlServer::error(
                                    "promote refused: " + why +
                                    (force ? "" : " (see redctl(8) for --force and its risk)")));
        return;
    }
    const lunmeta::EpochRecord old = *r.record;
    const std::uint64_t epoch = std::max({old.epoch, r.epoch, r.writer_epoch}) + 1;
    std::vector<std::uint32_t> members;
    for (std::uint32_t m : old.members) {
        if (m != config_.node_id() && slot_alive(r, m, now)) {
            members.push_back(m);
        }
    }
    if (!write_record(r, epoch, members, false, force)) {
        control_->reply(
            client, ControlServer::error("promote refused: the LUN's epoch record could not be "
                                         "written (see redd's log: it changed meanwhile, or an I/O "
                                         "error)"));
        return;
    }
    // The old writer's lease: it renews only after reading the record; so
    // it certainly ends lease + margin after the record, or after its last
    // heartbeat on the LUN if that is earlier.
    TimePoint at = now + config_.lease() + config_.lease_margin();
    if (old.resigned) {
        at = now;
    } else if (auto it = r.slots.find(old.writer); it != r.slots.end()) {
        if (slot_alive(r, old.writer, now) && it->second.slot.role != lunmeta::SlotRole::Writer) {
            // Its redd is back (after a reboot) and has no writer device:
            // there is no write lease left to wait for.
            at = now;
        } else {
            at = std::min(at, it->second.changed + config_.lease() + config_.lease_margin());
        }
    }
    at = std::max(at, now);
    r.promotion = Promotion{epoch, members, at, false, false, now};
    r.writer_node = config_.node_id();
    const std::int64_t wait = ms_until(now, at);
    log_.info(name, ": promoting: epoch ", epoch, ", copiers ", node_list(members).dump(),
              ", previous writer node ", old.writer, force ? " (forced)" : "", "; PROMOTE in ",
              wait, " ms (fencing wait)");
    emit(name, "promote-started",
         Json{{"epoch", epoch},
              {"members", node_list(members)},
              {"previous_writer", old.writer},
              {"fence_wait_ms", wait},
              {"forced", force}});
    Json reply = resource_status(r, now);
    reply["ok"] = true;
    reply["epoch"] = epoch;
    reply["copiers"] = node_list(members);
    reply["fence_wait_ms"] = wait;
    control_->reply(client, reply);
    promote_tick(r, now);
}

void Daemon::promote_tick(Resource &r, TimePoint now) {
    if (!r.promotion || r.promotion->sent || now < r.promotion->at || !registered_) {
        return;
    }
    Promotion &p = *r.promotion;
    p.sent = true;
    const std::string name = r.config->name;
    const std::uint64_t epoch = p.epoch;
    log_.info(name, ": PROMOTE epoch ", epoch, " members ", p.members.size());
    kernel_->promote(
        name, epoch, static_cast<std::uint32_t>(p.members.size()),
        [this, name, epoch](int err, const std::string &extack) {
            Resource *res = resource(name);
            if (res == nullptr || !res->promotion || res->promotion->epoch != epoch) {
                return;
            }
            const TimePoint t = Clock::now();
            if (err != 0) {
                log_.error(name, ": the kernel refused PROMOTE: ", errno_name(err), " ", extack,
                           "; the LUN's record names this node the writer: fix the device and "
                           "promote again");
                emit(name, "promote-failed",
                     Json{{"epoch", epoch}, {"reason", errno_name(err) + " " + extack}});
                res->promotion.reset();
                res->writer = false;
                return;
            }
            Promotion &pr = *res->promotion;
            pr.accepted = true;
            res->writer = true;
            res->writer_node = config_.node_id();
            res->epoch = std::max(res->epoch, epoch);
            res->local.reset();
            res->members.emplace(name, timing_, epoch);
            for (std::uint32_t m : pr.members) {
                res->members->adopt(m, t);
            }
            res->stabs.clear();
            res->preserves.clear();
            res->joiners.clear();
            res->failed.clear();
            res->granted.clear();
            res->leave_epoch = false;
            res->epoch_change = false;
            res->grace_until.reset();
            res->write_lease.reset();
            if (res->role == DM_RED_ROLE_WRITER) {
                // The flip came first: the write-back needs the lease now.
                res->write_lease.emplace(config_.lease(), config_.lease() / 3);
            } // else set up when update_device() sees the flip
            res->usable = true;
            log_membership(*res);
            log_.info(name, ": PROMOTE accepted at epoch ", epoch, " after ",
                      ms_until(pr.started, t), " ms; writing the store back");
            emit(name, "promote-accepted", Json{{"epoch", epoch}});
        });
}

void Daemon::control_demote(std::uint64_t client, Resource &r, bool force) {
    const std::string &name = r.config->name;
    if (!r.writer || !r.present || r.role != DM_RED_ROLE_WRITER) {
        control_->reply(client, ControlServer::error("demote: this node is not the writer"));
        return;
    }
    if (r.state != DM_RED_STATE_ACTIVE) {
        control_->reply(client, ControlServer::error("demote: the writer is " +
                                                     std::string(state_name(r.state)) +
                                                     ": wait until it is active"));
        return;
    }
    const auto copiers = r.members ? r.members->members() : std::vector<std::uint32_t>{};
    if (!copiers.empty() && !force) {
        control_->reply(client, ControlServer::error(
                                    "demote: copiers are joined (" + node_list(copiers).dump() +
                                    "): promote one of them instead, or demote with force"));
        return;
    }
    // 1. The record says the writer resigned: a copier may promote at once.
    // 2. The write lease ends now; the device holds or fails writes.
    if (!write_record(r, r.epoch, copiers, true)) {
        control_->reply(client,
                        ControlServer::error("demote failed: cannot write the LUN's epoch record"));
        return;
    }
    r.write_lease.reset();
    r.down = true;
    kernel_->lease(name, 0, [this, name](int err, const std::string &extack) {
        if (err != 0) {
            log_.error(name, ": LEASE 0 (demote) refused: ", errno_name(err), " ", extack);
        }
    });
    log_.info(name, ": demoted: write lease ended, the LUN's record says resigned");
    emit(name, "demoted", Json{{"epoch", r.epoch}});
    Json reply = resource_status(r, Clock::now());
    reply["ok"] = true;
    control_->reply(client, reply);
}

Json Daemon::lun_status(const Resource &r, TimePoint now) const {
    Json lun{{"readable", r.area != nullptr}};
    if (!r.area_error.empty()) {
        lun["error"] = r.area_error;
    }
    if (!r.record_error.empty() && r.record_error != lunmeta::kBlank) {
        // "foreign", or the damage: the fields below are the last record read.
        lun["record_error"] = r.record_error;
    }
    if (r.record) {
        lun["epoch"] = r.record->epoch;
        lun["writer"] = r.record->writer;
        lun["resigned"] = r.record->resigned;
        lun["members"] = node_list(r.record->members);
        lun["generation"] = r.record->generation;
    }
    Json nodes = Json::array();
    for (const auto &[id, seen] : r.slots) {
        nodes.push_back(Json{{"node", id},
                             {"alive", slot_alive(r, id, now)},
                             {"silent_ms", ms_until(seen.changed, now)},
                             {"role", seen.slot.role == lunmeta::SlotRole::Writer   ? "writer"
                                      : seen.slot.role == lunmeta::SlotRole::Copier ? "copier"
                                                                                    : "none"},
                             {"epoch", seen.slot.epoch},
                             {"writer_contact", seen.slot.writer_contact},
                             {"store_used", seen.slot.store_used}});
    }
    lun["nodes"] = std::move(nodes);
    Json out{{"lun", std::move(lun)}, {"fenced", r.fenced}, {"expelled", r.expelled}};
    if (!r.writer && r.present && r.role == DM_RED_ROLE_COPIER) {
        // Smaller is better: the write-back after a promotion copies the
        // store to the LUN, so the copier with the fewest exceptions
        // promotes fastest.
        const std::string why = promote_refusal(r, now, false);
        out["promotion"] = Json{{"score", r.store_used}, {"eligible", why.empty()}, {"why", why}};
    }
    if (r.promotion) {
        out["promoting"] = promotion_status(*r.promotion, now);
    }
    return out;
}

} // namespace redd::daemon
