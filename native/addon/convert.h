// Conversion between JS values and the engine's specs and event batches. Bad input throws a
// JS TypeError naming the field and the reader returns false; nothing here throws C++.
#pragma once

#include <napi.h>

#include <string>

#include "../engine/group.h"

namespace epoxy {

bool throw_type(Napi::Env env, const std::string& msg);
bool read_server(Napi::Value v, ServerSpec& s, const std::string& where);
bool read_snapshot(Napi::Value v, SnapshotSpec& spec);
bool read_update(Napi::Value v, ServerUpdate& u);
// A NativeHostBatch ({hosts: string[], counts: Uint32Array, servers: Uint32Array}), checked
// (check_host_batch): a bad one throws a TypeError saying what is wrong.
bool read_host_batch(Napi::Value v, HostBatch& b, const std::string& where);
bool read_group_options(Napi::Value v, GroupOptions& options);
Napi::Object batch_to_js(Napi::Env env, EventBatch& b);

}  // namespace epoxy
