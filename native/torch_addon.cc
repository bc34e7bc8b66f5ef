// A thin, op-level Node binding over libtorch (ATen ops + autograd). Model logic lives in TypeScript.
//
// Tensors are handed to JS as numeric handles (slot index + generation) into a native table instead of
// wrapped objects: creating a handle costs a few ns, and free() releases the tensor at once, which is what
// keeps a synchronous training loop's memory flat (Node defers N-API finalizers until the event loop runs).
// A stale or freed handle is detected by its generation and raises a JS error instead of touching memory.
#include "addon.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/core/grad_mode.h>
#include <torch/cuda.h>
#include <torch/csrc/api/include/torch/version.h>

#include <malloc.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace {

constexpr uint64_t kSlotBits = 24;
constexpr uint64_t kSlotMask = (uint64_t(1) << kSlotBits) - 1;
constexpr uint32_t kGenMask = (uint32_t(1) << 28) - 1;

struct Slot {
  at::Tensor t;
  uint32_t gen = 0;
  bool used = false;
};

std::vector<Slot> g_slots;
std::vector<uint32_t> g_free;
int64_t g_live = 0;

double Put(at::Tensor t) {
  uint32_t s;
  if (!g_free.empty()) {
    s = g_free.back();
    g_free.pop_back();
  } else {
    if (g_slots.size() > kSlotMask) throw std::runtime_error("too many live tensors (leak?)");
    s = static_cast<uint32_t>(g_slots.size());
    g_slots.emplace_back();
  }
  Slot& sl = g_slots[s];
  sl.t = std::move(t);
  sl.used = true;
  ++g_live;
  return static_cast<double>((static_cast<uint64_t>(sl.gen) << kSlotBits) | s);
}

Slot* Find(double id) {
  if (!(id >= 0)) return nullptr;
  uint64_t v = static_cast<uint64_t>(id);
  uint64_t s = v & kSlotMask;
  uint32_t gen = static_cast<uint32_t>(v >> kSlotBits);
  if (s >= g_slots.size()) return nullptr;
  Slot& sl = g_slots[s];
  if (!sl.used || sl.gen != gen) return nullptr;
  return &sl;
}

void Release(double id) {
  Slot* sl = Find(id);
  if (!sl) return;  // idempotent: a second free is a no-op
  sl->t = at::Tensor();
  sl->used = false;
  sl->gen = (sl->gen + 1) & kGenMask;
  g_free.push_back(static_cast<uint32_t>(sl - g_slots.data()));
  --g_live;
}

// ---- argument helpers -------------------------------------------------------------------------------

at::Tensor& T(const Napi::CallbackInfo& info, size_t i) {
  if (i >= info.Length() || !info[i].IsNumber()) throw Napi::TypeError::New(info.Env(), "expected a tensor handle at argument " + std::to_string(i));
  Slot* sl = Find(info[i].As<Napi::Number>().DoubleValue());
  if (!sl) throw Napi::Error::New(info.Env(), "tensor used after dispose (stale handle)");
  return sl->t;
}

// Optional tensor: a negative handle means "none".
c10::optional<at::Tensor> OptT(const Napi::CallbackInfo& info, size_t i) {
  if (i >= info.Length() || info[i].IsUndefined() || info[i].IsNull()) return c10::nullopt;
  if (info[i].As<Napi::Number>().DoubleValue() < 0) return c10::nullopt;
  return T(info, i);
}

int64_t I(const Napi::CallbackInfo& info, size_t i) {
  if (i >= info.Length() || !info[i].IsNumber()) throw Napi::TypeError::New(info.Env(), "expected a number at argument " + std::to_string(i));
  return info[i].As<Napi::Number>().Int64Value();
}

double D(const Napi::CallbackInfo& info, size_t i) {
  if (i >= info.Length() || !info[i].IsNumber()) throw Napi::TypeError::New(info.Env(), "expected a number at argument " + std::to_string(i));
  return info[i].As<Napi::Number>().DoubleValue();
}

bool B(const Napi::CallbackInfo& info, size_t i) { return i < info.Length() && info[i].ToBoolean().Value(); }

std::vector<int64_t> Shape(const Napi::CallbackInfo& info, size_t i) {
  if (i >= info.Length() || !info[i].IsArray()) throw Napi::TypeError::New(info.Env(), "expected a shape array at argument " + std::to_string(i));
  Napi::Array a = info[i].As<Napi::Array>();
  std::vector<int64_t> s(a.Length());
  for (uint32_t k = 0; k < a.Length(); ++k) s[k] = a.Get(k).As<Napi::Number>().Int64Value();
  return s;
}

std::vector<double> Handles(const Napi::CallbackInfo& info, size_t i) {
  std::vector<double> out;
  if (info[i].IsTypedArray()) {
    Napi::Float64Array a = info[i].As<Napi::Float64Array>();
    out.assign(a.Data(), a.Data() + a.ElementLength());
  } else {
    Napi::Array a = info[i].As<Napi::Array>();
    out.resize(a.Length());
    for (uint32_t k = 0; k < a.Length(); ++k) out[k] = a.Get(k).As<Napi::Number>().DoubleValue();
  }
  return out;
}

c10::Device Dev(const Napi::CallbackInfo& info, size_t i) {
  if (i >= info.Length() || !info[i].IsString()) return c10::Device(c10::kCPU);
  return c10::Device(info[i].As<Napi::String>().Utf8Value());
}

Napi::Value H(const Napi::CallbackInfo& info, at::Tensor t) { return Napi::Number::New(info.Env(), Put(std::move(t))); }

// libtorch errors become JS errors with the message's first line (no C++ backtrace).
template <Napi::Value (*F)(const Napi::CallbackInfo&)>
Napi::Value Guard(const Napi::CallbackInfo& info) {
  return regnet_addon::CallGuarded(info, F, "libtorch: ");
}

// ---- creation / transfer ----------------------------------------------------------------------------

// fromF32(data: Float32Array, shape, requiresGrad, device?)
Napi::Value FromF32(const Napi::CallbackInfo& info) {
  Napi::Float32Array a = info[0].As<Napi::Float32Array>();
  auto shape = Shape(info, 1);
  int64_t n = 1;
  for (auto s : shape) n *= s;
  if (n != static_cast<int64_t>(a.ElementLength())) throw Napi::RangeError::New(info.Env(), "fromF32: data length " + std::to_string(a.ElementLength()) + " does not match shape (" + std::to_string(n) + ")");
  at::Tensor t = at::empty(shape, at::kFloat);
  if (n) std::memcpy(t.data_ptr<float>(), a.Data(), n * sizeof(float));
  c10::Device dev = Dev(info, 3);
  if (!dev.is_cpu()) t = t.to(dev);
  if (B(info, 2)) t.requires_grad_(true);
  return H(info, t);
}

// fromI32AsI64(data: Int32Array, shape, device?) -> int64 tensor (class labels)
Napi::Value FromI32AsI64(const Napi::CallbackInfo& info) {
  Napi::Int32Array a = info[0].As<Napi::Int32Array>();
  auto shape = Shape(info, 1);
  int64_t n = 1;
  for (auto s : shape) n *= s;
  if (n != static_cast<int64_t>(a.ElementLength())) throw Napi::RangeError::New(info.Env(), "fromI32AsI64: data length does not match shape");
  at::Tensor t = at::empty(shape, at::kLong);
  int64_t* p = t.data_ptr<int64_t>();
  const int32_t* src = a.Data();
  for (int64_t k = 0; k < n; ++k) p[k] = src[k];
  c10::Device dev = Dev(info, 2);
  if (!dev.is_cpu()) t = t.to(dev);
  return H(info, t);
}

// toF32(h) -> Float32Array (a copy, row-major, any dtype converted)
Napi::Value ToF32(const Napi::CallbackInfo& info) {
  at::Tensor t = T(info, 0).detach().to(at::kCPU, at::kFloat).contiguous();
  Napi::Float32Array out = Napi::Float32Array::New(info.Env(), t.numel());
  if (t.numel()) std::memcpy(out.Data(), t.data_ptr<float>(), t.numel() * sizeof(float));
  return out;
}

// copyFromF32(h, data): overwrite a tensor's values in place (no autograd record)
Napi::Value CopyFromF32(const Napi::CallbackInfo& info) {
  at::Tensor& t = T(info, 0);
  Napi::Float32Array a = info[1].As<Napi::Float32Array>();
  if (t.numel() != static_cast<int64_t>(a.ElementLength())) throw Napi::RangeError::New(info.Env(), "copyFromF32: data length " + std::to_string(a.ElementLength()) + " != numel " + std::to_string(t.numel()));
  at::AutoGradMode off(false);
  at::Tensor src = at::from_blob(a.Data(), t.sizes(), at::kFloat);  // logical (contiguous) layout
  t.copy_(src);
  return info.Env().Undefined();
}

Napi::Value ShapeOf(const Napi::CallbackInfo& info) {
  at::Tensor& t = T(info, 0);
  Napi::Array out = Napi::Array::New(info.Env(), t.dim());
  for (int64_t k = 0; k < t.dim(); ++k) out.Set(static_cast<uint32_t>(k), Napi::Number::New(info.Env(), static_cast<double>(t.size(k))));
  return out;
}

Napi::Value Item(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), T(info, 0).item<double>()); }
Napi::Value Free(const Napi::CallbackInfo& info) {
  Release(D(info, 0));
  return info.Env().Undefined();
}
Napi::Value FreeMany(const Napi::CallbackInfo& info) {
  for (double id : Handles(info, 0)) Release(id);
  return info.Env().Undefined();
}
Napi::Value IsLive(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), Find(D(info, 0)) != nullptr); }
Napi::Value LiveCount(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), static_cast<double>(g_live)); }

Napi::Value Zeros(const Napi::CallbackInfo& info) { return H(info, at::zeros(Shape(info, 0), at::TensorOptions().dtype(at::kFloat).device(Dev(info, 1)))); }
Napi::Value ZerosLike(const Napi::CallbackInfo& info) { return H(info, at::zeros_like(T(info, 0).detach())); }
Napi::Value Randn(const Napi::CallbackInfo& info) { return H(info, at::randn(Shape(info, 0), at::TensorOptions().dtype(at::kFloat).device(Dev(info, 1)))); }
Napi::Value To(const Napi::CallbackInfo& info) { return H(info, T(info, 0).to(Dev(info, 1))); }
Napi::Value DeviceOf(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), T(info, 0).device().str()); }
// channelsLast(h, on): the same values in NHWC (on) or NCHW (off) memory order
Napi::Value MemoryFormat(const Napi::CallbackInfo& info) {
  return H(info, T(info, 0).contiguous(B(info, 1) ? at::MemoryFormat::ChannelsLast : at::MemoryFormat::Contiguous));
}
Napi::Value Reshape(const Napi::CallbackInfo& info) { return H(info, T(info, 0).reshape(Shape(info, 1))); }
Napi::Value Detach(const Napi::CallbackInfo& info) { return H(info, T(info, 0).detach()); }
Napi::Value Clone(const Napi::CallbackInfo& info) { return H(info, T(info, 0).clone()); }

// ---- autograd ---------------------------------------------------------------------------------------

Napi::Value SetRequiresGrad(const Napi::CallbackInfo& info) {
  T(info, 0).requires_grad_(B(info, 1));
  return info.Env().Undefined();
}
Napi::Value RequiresGrad(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), T(info, 0).requires_grad()); }
Napi::Value Backward(const Napi::CallbackInfo& info) {
  T(info, 0).backward();
  return info.Env().Undefined();
}
// grad(h) -> handle of h.grad, or -1 when it has none
Napi::Value Grad(const Napi::CallbackInfo& info) {
  const at::Tensor& g = T(info, 0).grad();
  if (!g.defined()) return Napi::Number::New(info.Env(), -1);
  return H(info, g);
}
// clearGrads(handles): set .grad to undefined (cheaper than zeroing; the next backward allocates fresh)
Napi::Value ClearGrads(const Napi::CallbackInfo& info) {
  for (double id : Handles(info, 0)) {
    Slot* sl = Find(id);
    if (sl && sl->t.grad().defined()) sl->t.mutable_grad().reset();
  }
  return info.Env().Undefined();
}
Napi::Value SetGradEnabled(const Napi::CallbackInfo& info) {
  at::GradMode::set_enabled(B(info, 0));
  return info.Env().Undefined();
}
Napi::Value IsGradEnabled(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), at::GradMode::is_enabled()); }

// ---- ops --------------------------------------------------------------------------------------------

// conv2d(x, w, b|-1, stride, pad, groups)
Napi::Value Conv2d(const Napi::CallbackInfo& info) {
  int64_t s = I(info, 3), p = I(info, 4);
  return H(info, at::conv2d(T(info, 0), T(info, 1), OptT(info, 2), {s, s}, {p, p}, {1, 1}, I(info, 5)));
}
// batchNorm(x, w|-1, b|-1, runningMean|-1, runningVar|-1, training, momentum, eps); running stats updated in place
Napi::Value BatchNorm(const Napi::CallbackInfo& info) {
  return H(info, at::batch_norm(T(info, 0), OptT(info, 1), OptT(info, 2), OptT(info, 3), OptT(info, 4), B(info, 5), D(info, 6), D(info, 7), true));
}
// groupNorm(x, groups, w|-1, b|-1, eps)
Napi::Value GroupNorm(const Napi::CallbackInfo& info) {
  return H(info, at::group_norm(T(info, 0), I(info, 1), OptT(info, 2), OptT(info, 3), D(info, 4), true));
}
Napi::Value Relu(const Napi::CallbackInfo& info) { return H(info, at::relu(T(info, 0))); }
// relu_(x): in place; returns a new handle to the same tensor
Napi::Value ReluInplace(const Napi::CallbackInfo& info) { return H(info, at::relu_(T(info, 0))); }
Napi::Value Sigmoid(const Napi::CallbackInfo& info) { return H(info, at::sigmoid(T(info, 0))); }
Napi::Value Silu(const Napi::CallbackInfo& info) { return H(info, at::silu(T(info, 0))); }
Napi::Value Add(const Napi::CallbackInfo& info) { return H(info, at::add(T(info, 0), T(info, 1))); }
Napi::Value Mul(const Napi::CallbackInfo& info) { return H(info, at::mul(T(info, 0), T(info, 1))); }
Napi::Value MulScalar(const Napi::CallbackInfo& info) { return H(info, at::mul(T(info, 0), at::Scalar(D(info, 1)))); }
// maxPool2d(x, k, stride, pad)
Napi::Value MaxPool2d(const Napi::CallbackInfo& info) {
  int64_t k = I(info, 1), s = I(info, 2), p = I(info, 3);
  return H(info, at::max_pool2d(T(info, 0), {k, k}, {s, s}, {p, p}));
}
// avgPool2d(x, k, stride, pad, ceilMode, countIncludePad)
Napi::Value AvgPool2d(const Napi::CallbackInfo& info) {
  int64_t k = I(info, 1), s = I(info, 2), p = I(info, 3);
  return H(info, at::avg_pool2d(T(info, 0), {k, k}, {s, s}, {p, p}, B(info, 4), B(info, 5)));
}
// globalAvgPool(x) -> [N, C, 1, 1]
Napi::Value GlobalAvgPool(const Napi::CallbackInfo& info) { return H(info, at::adaptive_avg_pool2d(T(info, 0), {1, 1})); }
// meanHW(x) -> [N, C]
Napi::Value MeanHW(const Napi::CallbackInfo& info) { return H(info, T(info, 0).mean({2, 3})); }
// linear(x, w, b|-1)
Napi::Value Linear(const Napi::CallbackInfo& info) { return H(info, at::linear(T(info, 0), T(info, 1), OptT(info, 2))); }
Napi::Value Sum(const Napi::CallbackInfo& info) { return H(info, T(info, 0).sum()); }
Napi::Value Mean(const Napi::CallbackInfo& info) { return H(info, T(info, 0).mean()); }
// crossEntropy(logits [N,K], labels int64 [N], labelSmoothing) -> mean loss (scalar)
Napi::Value CrossEntropy(const Napi::CallbackInfo& info) {
  return H(info, at::cross_entropy_loss(T(info, 0), T(info, 1), c10::nullopt, at::Reduction::Mean, -100, D(info, 2)));
}
Napi::Value Argmax(const Napi::CallbackInfo& info) { return H(info, at::argmax(T(info, 0), I(info, 1))); }
// topk(x, k, dim) -> [valuesHandle, indicesHandle]
Napi::Value Topk(const Napi::CallbackInfo& info) {
  auto r = at::topk(T(info, 0), I(info, 1), I(info, 2));
  Napi::Array out = Napi::Array::New(info.Env(), 2);
  out.Set(0u, H(info, std::get<0>(r)));
  out.Set(1u, H(info, std::get<1>(r)));
  return out;
}
// countEqual(a, b) -> number of equal elements (e.g. argmax vs labels)
Napi::Value CountEqual(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(T(info, 0).eq(T(info, 1)).sum().item<int64_t>()));
}

// sgdStep(params, momentumBufs, decayMask: Uint8Array, lr, momentum, nesterov, weightDecay, clearGrads)
// PyTorch's SGD (dampening 0): d = g + wd*p; buf = m*buf + d; d = nesterov ? d + m*buf : buf; p -= lr*d.
// Runs with grad mode off so the parameters are updated in place; params without a grad are skipped.
Napi::Value SgdStep(const Napi::CallbackInfo& info) {
  auto params = Handles(info, 0);
  auto bufs = Handles(info, 1);
  Napi::Uint8Array mask = info[2].As<Napi::Uint8Array>();
  double lr = D(info, 3), momentum = D(info, 4), wd = D(info, 6);
  bool nesterov = B(info, 5), clear = B(info, 7);
  if (bufs.size() != params.size() || mask.ElementLength() != params.size()) throw Napi::RangeError::New(info.Env(), "sgdStep: params, buffers and mask differ in length");
  at::AutoGradMode off(false);
  for (size_t i = 0; i < params.size(); ++i) {
    Slot* ps = Find(params[i]);
    if (!ps) throw Napi::Error::New(info.Env(), "sgdStep: parameter used after dispose");
    at::Tensor& p = ps->t;
    at::Tensor g = p.grad();
    if (!g.defined()) continue;
    if (wd != 0 && mask[i]) g.add_(p, wd);  // the grad is discarded after the step, so reuse its memory
    at::Tensor d = g;
    if (momentum != 0) {
      Slot* bs = Find(bufs[i]);
      if (!bs) throw Napi::Error::New(info.Env(), "sgdStep: momentum buffer used after dispose");
      bs->t.mul_(momentum).add_(g);
      if (nesterov)
        d = g.add_(bs->t, momentum);
      else
        d = bs->t;
    }
    p.add_(d, -lr);
    if (clear) p.mutable_grad().reset();
  }
  return info.Env().Undefined();
}

// ---- runtime ----------------------------------------------------------------------------------------

Napi::Value ManualSeed(const Napi::CallbackInfo& info) {
  at::manual_seed(static_cast<uint64_t>(I(info, 0)));
  return info.Env().Undefined();
}
Napi::Value SetNumThreads(const Napi::CallbackInfo& info) {
  at::set_num_threads(static_cast<int>(I(info, 0)));
  return info.Env().Undefined();
}
Napi::Value GetNumThreads(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), at::get_num_threads()); }
Napi::Value CudaAvailable(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), torch::cuda::is_available()); }
Napi::Value CudaDeviceCount(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), static_cast<double>(torch::cuda::device_count())); }
Napi::Value Version(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), std::to_string(TORCH_VERSION_MAJOR) + "." + std::to_string(TORCH_VERSION_MINOR) + "." + std::to_string(TORCH_VERSION_PATCH));
}
// tuneMalloc(mmapThresholdBytes): keep freed activation buffers in the heap instead of returning them to
// the OS each step (fewer page faults); glibc only.
Napi::Value TuneMalloc(const Napi::CallbackInfo& info) {
  int64_t thr = I(info, 0);
  bool ok = mallopt(M_MMAP_THRESHOLD, static_cast<int>(thr)) == 1;
  ok = mallopt(M_TRIM_THRESHOLD, 1 << 30) == 1 && ok;
  return Napi::Boolean::New(info.Env(), ok);
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
#define REG(name, fn) exports.Set(name, Napi::Function::New<Guard<fn>>(env, name))
  REG("fromF32", FromF32);
  REG("fromI32AsI64", FromI32AsI64);
  REG("toF32", ToF32);
  REG("copyFromF32", CopyFromF32);
  REG("shape", ShapeOf);
  REG("item", Item);
  REG("free", Free);
  REG("freeMany", FreeMany);
  REG("isLive", IsLive);
  REG("liveCount", LiveCount);
  REG("zeros", Zeros);
  REG("zerosLike", ZerosLike);
  REG("randn", Randn);
  REG("to", To);
  REG("deviceOf", DeviceOf);
  REG("memoryFormat", MemoryFormat);
  REG("reshape", Reshape);
  REG("detach", Detach);
  REG("clone", Clone);
  REG("setRequiresGrad", SetRequiresGrad);
  REG("requiresGrad", RequiresGrad);
  REG("backward", Backward);
  REG("grad", Grad);
  REG("clearGrads", ClearGrads);
  REG("setGradEnabled", SetGradEnabled);
  REG("isGradEnabled", IsGradEnabled);
  REG("conv2d", Conv2d);
  REG("batchNorm", BatchNorm);
  REG("groupNorm", GroupNorm);
  REG("relu", Relu);
  REG("relu_", ReluInplace);
  REG("sigmoid", Sigmoid);
  REG("silu", Silu);
  REG("add", Add);
  REG("mul", Mul);
  REG("mulScalar", MulScalar);
  REG("maxPool2d", MaxPool2d);
  REG("avgPool2d", AvgPool2d);
  REG("globalAvgPool", GlobalAvgPool);
  REG("meanHW", MeanHW);
  REG("linear", Linear);
  REG("sum", Sum);
  REG("mean", Mean);
  REG("crossEntropy", CrossEntropy);
  REG("argmax", Argmax);
  REG("topk", Topk);
  REG("countEqual", CountEqual);
  REG("sgdStep", SgdStep);
  REG("manualSeed", ManualSeed);
  REG("setNumThreads", SetNumThreads);
  REG("getNumThreads", GetNumThreads);
  REG("cudaAvailable", CudaAvailable);
  REG("cudaDeviceCount", CudaDeviceCount);
  REG("version", Version);
  REG("tuneMalloc", TuneMalloc);
#undef REG
  regnet_addon::RegisterDistributed(env, exports);
  regnet_addon::RegisterAmp(env, exports);
  return exports;
}

}  // namespace

// The handle table for the addon's other files (addon.h).
namespace regnet_addon {
at::Tensor* TensorAt(double handle) {
  Slot* sl = Find(handle);
  return sl ? &sl->t : nullptr;
}
// A new handle for a tensor made by another file of the addon.
double NewHandle(at::Tensor t) { return Put(std::move(t)); }
}  // namespace regnet_addon

NODE_API_MODULE(torch_addon, Init)
