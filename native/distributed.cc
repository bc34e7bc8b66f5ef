// Data-parallel training on libtorch's own distributed layer (c10d): a TCPStore rendezvous and one
// process group per process (ProcessGroupGloo on CPU; ProcessGroupNCCL for CUDA tensors when the build
// has it). The JS side (src/engine/torch/dist.ts) drives it; tensors are the addon's handles, looked up
// through regnet_addon::TensorAt (torch_addon.cc).
//
// Every collective is issued in the same order on every rank (c10d matches them by order).
#include "addon.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <torch/csrc/autograd/custom_function.h>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

// c10d's headers declare a backend only under its USE_C10D_* macro
#ifdef REGNET_C10D_GLOO
#define USE_C10D_GLOO 1
#endif
#ifdef REGNET_C10D_NCCL
#define USE_C10D_NCCL 1
#endif
#if defined(REGNET_C10D_GLOO) || defined(REGNET_C10D_NCCL)
#define REGNET_HAS_C10D 1
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroup.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#endif
#ifdef REGNET_C10D_GLOO
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#endif
#ifdef REGNET_C10D_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

namespace {

#ifdef REGNET_HAS_C10D
struct Group {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::ProcessGroup> pg;
  int rank = 0;
  int world = 1;
  std::string backend;
};
Group* g_group = nullptr;

Group& G(const Napi::Env& env) {
  if (!g_group) throw Napi::Error::New(env, "distributed: no process group (distInit first)");
  return *g_group;
}
#endif

std::string Backends() {
  std::string s;
#ifdef REGNET_C10D_GLOO
  s += "gloo";
#endif
#ifdef REGNET_C10D_NCCL
  if (!s.empty()) s += ",";
  s += "nccl";
#endif
  return s;
}

at::Tensor& Arg(const Napi::CallbackInfo& info, double h) {
  at::Tensor* t = regnet_addon::TensorAt(h);
  if (!t) throw Napi::Error::New(info.Env(), "distributed: tensor used after dispose (stale handle)");
  return *t;
}

std::vector<double> HandleList(const Napi::CallbackInfo& info, size_t i) {
  std::vector<double> out;
  if (info[i].IsTypedArray()) {
    Napi::Float64Array a = info[i].As<Napi::Float64Array>();
    out.assign(a.Data(), a.Data() + a.ElementLength());
  } else if (info[i].IsArray()) {
    Napi::Array a = info[i].As<Napi::Array>();
    out.resize(a.Length());
    for (uint32_t k = 0; k < a.Length(); ++k) out[k] = a.Get(k).As<Napi::Number>().DoubleValue();
  } else {
    throw Napi::TypeError::New(info.Env(), "distributed: expected a list of tensor handles at argument " + std::to_string(i));
  }
  return out;
}

// distBackends() -> "gloo" | "gloo,nccl" | "" (what this build can use)
Napi::Value DistBackends(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), Backends()); }

#ifdef REGNET_HAS_C10D

// distInit(rank, world, masterAddr, masterPort, timeoutMs, backend: 'gloo'|'nccl', localAddr)
// Rank 0 hosts the TCPStore; every rank connects to it, then the process group rendezvouses through it.
Napi::Value DistInit(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (g_group) throw Napi::Error::New(env, "distributed: process group already initialised");
  int rank = info[0].As<Napi::Number>().Int32Value();
  int world = info[1].As<Napi::Number>().Int32Value();
  std::string addr = info[2].As<Napi::String>().Utf8Value();
  int port = info[3].As<Napi::Number>().Int32Value();
  int64_t timeoutMs = info[4].As<Napi::Number>().Int64Value();
  std::string backend = info[5].As<Napi::String>().Utf8Value();
  std::string localAddr = info.Length() > 6 && info[6].IsString() ? info[6].As<Napi::String>().Utf8Value() : "";
  if (world < 1 || rank < 0 || rank >= world) throw Napi::RangeError::New(env, "distributed: rank must be in 0..world-1");
  if (port < 1 || port > 65535) throw Napi::RangeError::New(env, "distributed: port must be in 1..65535");
  auto timeout = std::chrono::milliseconds(timeoutMs);

  c10d::TCPStoreOptions so;
  so.port = static_cast<uint16_t>(port);
  so.isServer = rank == 0;
  so.numWorkers = static_cast<size_t>(world);
  so.waitWorkers = true;
  so.timeout = timeout;
  auto tcp = c10::make_intrusive<c10d::TCPStore>(addr, so);
  c10::intrusive_ptr<c10d::Store> store = c10::make_intrusive<c10d::PrefixStore>("regnet/" + backend, tcp);

  c10::intrusive_ptr<c10d::ProcessGroup> pg;
  if (backend == "gloo") {
#ifdef REGNET_C10D_GLOO
    auto opts = c10d::ProcessGroupGloo::Options::create();
    opts->timeout = timeout;
    // the interface that reaches the master: loopback for local ranks, else the host's own address
    if (!localAddr.empty())
      opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname(localAddr));
    else
      opts->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
    pg = c10::make_intrusive<c10d::ProcessGroupGloo>(store, rank, world, opts);
#else
    throw Napi::Error::New(env, "distributed: this addon was built without Gloo (install libgloo-dev and rebuild)");
#endif
  } else if (backend == "nccl") {
#ifdef REGNET_C10D_NCCL
    auto opts = c10d::ProcessGroupNCCL::Options::create();
    opts->timeout = timeout;
    pg = c10::make_intrusive<c10d::ProcessGroupNCCL>(store, rank, world, opts);
#else
    throw Napi::Error::New(env, "distributed: this addon was built without NCCL (a CPU-only libtorch); use gloo");
#endif
  } else {
    throw Napi::Error::New(env, "distributed: backend '" + backend + "' is not one of gloo, nccl");
  }
  g_group = new Group{tcp, pg, rank, world, backend};
  return env.Undefined();
}

// allreduceGrads(params, scale, bucketBytes): every rank's p.grad * scale summed over ranks, in place.
// Gradients are flattened into buckets of about bucketBytes (parameter order, one dtype and device per
// bucket), every bucket's allreduce is launched before the first is waited on (Gloo runs them on its
// own threads), then the sums are copied back into the .grad tensors. A parameter without a gradient
// contributes zeros (and gets the sum as its gradient), so every rank issues the same collectives.
Napi::Value AllreduceGrads(const Napi::CallbackInfo& info) {
  Group& g = G(info.Env());
  auto handles = HandleList(info, 0);
  double scale = info[1].As<Napi::Number>().DoubleValue();
  int64_t cap = info[2].As<Napi::Number>().Int64Value();
  if (cap < 1) cap = 1;
  at::AutoGradMode off(false);
  std::vector<at::Tensor*> params;
  params.reserve(handles.size());
  for (double h : handles) params.push_back(&Arg(info, h));

  struct Bucket {
    size_t begin, end;
    at::Tensor flat;
  };
  std::vector<Bucket> buckets;
  size_t i = 0;
  while (i < params.size()) {
    const at::Tensor& first = *params[i];
    size_t j = i;
    int64_t bytes = 0;
    while (j < params.size() && params[j]->scalar_type() == first.scalar_type() && params[j]->device() == first.device() &&
           (j == i || bytes + params[j]->numel() * params[j]->element_size() <= cap)) {
      bytes += params[j]->numel() * params[j]->element_size();
      ++j;
    }
    std::vector<at::Tensor> parts;
    parts.reserve(j - i);
    for (size_t k = i; k < j; ++k) {
      const at::Tensor& gr = params[k]->grad();
      parts.push_back(gr.defined() ? gr.reshape({-1}) : at::zeros({params[k]->numel()}, params[k]->options()));
    }
    at::Tensor flat = at::cat(parts);
    if (scale != 1.0) flat.mul_(scale);
    buckets.push_back({i, j, flat});
    i = j;
  }
  std::vector<c10::intrusive_ptr<c10d::Work>> works;
  works.reserve(buckets.size());
  for (auto& b : buckets) {
    std::vector<at::Tensor> ts{b.flat};
    works.push_back(g.pg->allreduce(ts));
  }
  for (size_t k = 0; k < buckets.size(); ++k) {
    works[k]->wait();
    Bucket& b = buckets[k];
    int64_t off = 0;
    for (size_t p = b.begin; p < b.end; ++p) {
      at::Tensor& param = *params[p];
      int64_t n = param.numel();
      at::Tensor src = b.flat.narrow(0, off, n).view(param.sizes());
      if (param.grad().defined())
        param.mutable_grad().copy_(src);
      else
        param.mutable_grad() = src.clone();
      off += n;
    }
  }
  return Napi::Number::New(info.Env(), static_cast<double>(buckets.size()));
}

// broadcast(tensors, root): the root's values into every rank's tensors (in place, one flat buffer per
// dtype/device run), e.g. the initial weights and BN statistics of rank 0.
Napi::Value Broadcast(const Napi::CallbackInfo& info) {
  Group& g = G(info.Env());
  auto handles = HandleList(info, 0);
  int root = info[1].As<Napi::Number>().Int32Value();
  at::AutoGradMode off(false);
  std::vector<at::Tensor*> ts;
  for (double h : handles) ts.push_back(&Arg(info, h));
  size_t i = 0;
  while (i < ts.size()) {
    size_t j = i;
    std::vector<at::Tensor> parts;
    while (j < ts.size() && ts[j]->scalar_type() == ts[i]->scalar_type() && ts[j]->device() == ts[i]->device()) {
      parts.push_back(ts[j]->detach().reshape({-1}));
      ++j;
    }
    std::vector<at::Tensor> flat{at::cat(parts)};
    c10d::BroadcastOptions bo;
    bo.rootRank = root;
    g.pg->broadcast(flat, bo)->wait();
    int64_t off = 0;
    for (size_t k = i; k < j; ++k) {
      int64_t n = ts[k]->numel();
      ts[k]->detach().copy_(flat[0].narrow(0, off, n).view(ts[k]->sizes()));
      off += n;
    }
    i = j;
  }
  return info.Env().Undefined();
}

// allreduceF64(values: Float64Array) -> Float64Array of the sums over ranks (counts, loss sums)
Napi::Value AllreduceF64(const Napi::CallbackInfo& info) {
  Group& g = G(info.Env());
  Napi::Float64Array a = info[0].As<Napi::Float64Array>();
  int64_t n = static_cast<int64_t>(a.ElementLength());
  at::Tensor t = at::empty({n}, at::kDouble);
  if (n) std::memcpy(t.data_ptr<double>(), a.Data(), n * sizeof(double));
  if (g.backend == "nccl") t = t.to(at::Device(at::kCUDA, 0));
  std::vector<at::Tensor> ts{t};
  g.pg->allreduce(ts)->wait();
  at::Tensor r = ts[0].to(at::kCPU).contiguous();
  Napi::Float64Array out = Napi::Float64Array::New(info.Env(), n);
  if (n) std::memcpy(out.Data(), r.data_ptr<double>(), n * sizeof(double));
  return out;
}

// Synchronised batch normalisation (training): per-channel sum and sum of squares of the input summed over
// ranks in the forward pass, so every rank normalises with the global batch's statistics; in the backward
// pass the sums of dy and dy*xhat over the global batch, each rank's weighted by its share of the global
// batch (the gradient allreduce later sums the ranks' parameter gradients with the same weights, so the
// input gradient returned here is the global one divided by this rank's share). weight/bias gradients
// are this rank's own (summed with the other gradients).
struct SyncBatchNorm : public torch::autograd::Function<SyncBatchNorm> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
                            at::Tensor runningMean, at::Tensor runningVar, double momentum, double eps, double share) {
    Group& g = *g_group;
    int64_t c = x.size(1);
    at::Tensor xd = x.to(at::kDouble);
    at::Tensor packed = at::cat({xd.sum({0, 2, 3}), (xd * xd).sum({0, 2, 3}), at::full({1}, static_cast<double>(x.numel() / c), xd.options())});
    std::vector<at::Tensor> ts{packed};
    g.pg->allreduce(ts)->wait();
    double total = ts[0][2 * c].item<double>();
    at::Tensor mean = ts[0].narrow(0, 0, c) / total;
    at::Tensor var = (ts[0].narrow(0, c, c) / total - mean * mean).clamp_min(0);
    at::Tensor invstd = (var + eps).rsqrt();
    {
      at::AutoGradMode off(false);
      if (runningMean.defined()) runningMean.mul_(1 - momentum).add_(mean.to(runningMean.scalar_type()), momentum);
      if (runningVar.defined() && total > 1)
        runningVar.mul_(1 - momentum).add_((var * (total / (total - 1))).to(runningVar.scalar_type()), momentum);
    }
    at::Tensor m4 = mean.to(x.scalar_type()).view({1, c, 1, 1});
    at::Tensor s4 = invstd.to(x.scalar_type()).view({1, c, 1, 1});
    at::Tensor xhat = (x - m4) * s4;
    ctx->save_for_backward({xhat, weight, s4});
    ctx->saved_data["total"] = total;
    ctx->saved_data["share"] = share;
    return xhat * weight.view({1, c, 1, 1}) + bias.view({1, c, 1, 1});
  }

  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx, torch::autograd::tensor_list grads) {
    Group& g = *g_group;
    auto saved = ctx->get_saved_variables();
    at::Tensor xhat = saved[0], weight = saved[1], s4 = saved[2];
    double total = ctx->saved_data["total"].toDouble();
    double share = ctx->saved_data["share"].toDouble();
    at::Tensor dy = grads[0];
    int64_t c = xhat.size(1);
    at::Tensor db = dy.sum({0, 2, 3});
    at::Tensor dw = (dy * xhat).sum({0, 2, 3});
    std::vector<at::Tensor> ts{at::cat({db, dw}).to(at::kDouble).mul_(share)};
    g.pg->allreduce(ts)->wait();
    at::Tensor meanDy = (ts[0].narrow(0, 0, c) / (total * share)).to(dy.scalar_type()).view({1, c, 1, 1});
    at::Tensor meanDyXhat = (ts[0].narrow(0, c, c) / (total * share)).to(dy.scalar_type()).view({1, c, 1, 1});
    at::Tensor dx = (dy - meanDy - xhat * meanDyXhat) * (s4 * weight.view({1, c, 1, 1}));
    return {dx, dw, db, at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

// syncBatchNorm(x, weight, bias, runningMean|-1, runningVar|-1, momentum, eps, share) -> handle
Napi::Value SyncBn(const Napi::CallbackInfo& info) {
  G(info.Env());
  auto opt = [&](size_t i) -> at::Tensor {
    double h = info[i].As<Napi::Number>().DoubleValue();
    return h < 0 ? at::Tensor() : Arg(info, h);
  };
  double share = info[7].As<Napi::Number>().DoubleValue();
  if (!(share > 0)) throw Napi::RangeError::New(info.Env(), "syncBatchNorm: a rank without samples cannot join synchronised BN");
  at::Tensor y = SyncBatchNorm::apply(Arg(info, info[0].As<Napi::Number>().DoubleValue()), Arg(info, info[1].As<Napi::Number>().DoubleValue()),
                                      Arg(info, info[2].As<Napi::Number>().DoubleValue()), opt(3), opt(4),
                                      info[5].As<Napi::Number>().DoubleValue(), info[6].As<Napi::Number>().DoubleValue(), share);
  return Napi::Number::New(info.Env(), regnet_addon::NewHandle(y));
}

Napi::Value Barrier(const Napi::CallbackInfo& info) {
  G(info.Env()).pg->barrier()->wait();
  return info.Env().Undefined();
}

Napi::Value Destroy(const Napi::CallbackInfo& info) {
  if (g_group) {
    delete g_group;
    g_group = nullptr;
  }
  return info.Env().Undefined();
}

Napi::Value Info(const Napi::CallbackInfo& info) {
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("initialised", g_group != nullptr);
  if (g_group) {
    o.Set("rank", g_group->rank);
    o.Set("world", g_group->world);
    o.Set("backend", g_group->backend);
  }
  return o;
}

#endif  // REGNET_HAS_C10D

template <Napi::Value (*F)(const Napi::CallbackInfo&)>
Napi::Value Guarded(const Napi::CallbackInfo& info) {
  return regnet_addon::CallGuarded(info, F, "libtorch distributed: ");
}

}  // namespace

namespace regnet_addon {
// Adds the distributed functions to the addon's exports (called from torch_addon.cc's Init).
void RegisterDistributed(Napi::Env env, Napi::Object exports) {
#define REG(name, fn) exports.Set(name, Napi::Function::New<Guarded<fn>>(env, name))
  REG("distBackends", DistBackends);
#ifdef REGNET_HAS_C10D
  REG("distInit", DistInit);
  REG("distAllreduceGrads", AllreduceGrads);
  REG("distBroadcast", Broadcast);
  REG("distAllreduceF64", AllreduceF64);
  REG("distBarrier", Barrier);
  REG("distDestroy", Destroy);
  REG("distInfo", Info);
  REG("distSyncBatchNorm", SyncBn);
#endif
#undef REG
}
}  // namespace regnet_addon
