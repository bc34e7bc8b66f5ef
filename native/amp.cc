// Mixed precision for the torch addon: autocast regions (libtorch's own per-op casting rules, as
// torch.autocast applies them) and the native half of a dynamic gradient scaler (unscale the gradients
// in place and report whether any value is inf or NaN). The scaler's bookkeeping (scale, growth) lives in
// TypeScript (src/engine/torch/amp.ts). Registered into the addon's exports by RegisterAmp.
#include "addon.h"

#include <ATen/ATen.h>
#include <ATen/autocast_mode.h>
#include <ATen/core/grad_mode.h>

#include <string>
#include <vector>

namespace {

template <Napi::Value (*F)(const Napi::CallbackInfo&)>
Napi::Value AmpGuard(const Napi::CallbackInfo& info) {
  return regnet_addon::CallGuarded(info, F, "libtorch: ");
}

std::string Str(const Napi::CallbackInfo& info, size_t i, const char* what) {
  if (i >= info.Length() || !info[i].IsString()) throw Napi::TypeError::New(info.Env(), std::string("expected ") + what + " at argument " + std::to_string(i));
  return info[i].As<Napi::String>().Utf8Value();
}

// 'cpu' or 'cuda' (any cuda:N: autocast state is per device type)
bool IsCuda(const Napi::CallbackInfo& info, size_t i) {
  std::string d = Str(info, i, "a device type");
  if (d == "cpu") return false;
  if (d.rfind("cuda", 0) == 0) return true;
  throw Napi::Error::New(info.Env(), "autocast: device type '" + d + "' is not cpu or cuda");
}

at::ScalarType Dtype(const Napi::CallbackInfo& info, size_t i) {
  std::string d = Str(info, i, "a dtype");
  if (d == "bf16") return at::kBFloat16;
  if (d == "fp16") return at::kHalf;
  if (d == "fp32") return at::kFloat;
  throw Napi::Error::New(info.Env(), "autocast: dtype '" + d + "' is not bf16, fp16 or fp32");
}

const char* DtypeName(at::ScalarType t) {
  switch (t) {
    case at::kBFloat16:
      return "bf16";
    case at::kHalf:
      return "fp16";
    case at::kFloat:
      return "fp32";
    case at::kDouble:
      return "fp64";
    case at::kLong:
      return "int64";
    case at::kInt:
      return "int32";
    case at::kBool:
      return "bool";
    default:
      return c10::toString(t);
  }
}

at::Tensor& Tn(const Napi::CallbackInfo& info, size_t i) {
  if (i >= info.Length() || !info[i].IsNumber()) throw Napi::TypeError::New(info.Env(), "expected a tensor handle at argument " + std::to_string(i));
  at::Tensor* t = regnet_addon::TensorAt(info[i].As<Napi::Number>().DoubleValue());
  if (!t) throw Napi::Error::New(info.Env(), "tensor used after dispose (stale handle)");
  return *t;
}

// autocastState(deviceType) -> { enabled, dtype }
Napi::Value AutocastState(const Napi::CallbackInfo& info) {
  bool cuda = IsCuda(info, 0);
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("enabled", Napi::Boolean::New(info.Env(), cuda ? at::autocast::is_enabled() : at::autocast::is_cpu_enabled()));
  o.Set("dtype", Napi::String::New(info.Env(), DtypeName(cuda ? at::autocast::get_autocast_gpu_dtype() : at::autocast::get_autocast_cpu_dtype())));
  return o;
}

// autocastEnter(deviceType, dtype): ops dispatched from here on follow autocast's casting rules
Napi::Value AutocastEnter(const Napi::CallbackInfo& info) {
  bool cuda = IsCuda(info, 0);
  at::ScalarType dt = Dtype(info, 1);
  if (cuda) {
    at::autocast::set_autocast_gpu_dtype(dt);
    at::autocast::set_enabled(true);
  } else {
    at::autocast::set_autocast_cpu_dtype(dt);
    at::autocast::set_cpu_enabled(true);
  }
  at::autocast::increment_nesting();
  return info.Env().Undefined();
}

// autocastExit(deviceType, prevEnabled, prevDtype): restore the state autocastState reported before
// entering; leaving the outermost region drops the cached low-precision copies of the weights (they
// would be stale after the optimiser step).
Napi::Value AutocastExit(const Napi::CallbackInfo& info) {
  bool cuda = IsCuda(info, 0);
  bool prev = info.Length() > 1 && info[1].ToBoolean().Value();
  at::ScalarType dt = Dtype(info, 2);
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  if (cuda) {
    at::autocast::set_enabled(prev);
    at::autocast::set_autocast_gpu_dtype(dt);
  } else {
    at::autocast::set_cpu_enabled(prev);
    at::autocast::set_autocast_cpu_dtype(dt);
  }
  return info.Env().Undefined();
}

// unscaleGrads(params, invScale) -> true when any gradient holds an inf or NaN. Every existing .grad is
// multiplied by invScale in place (grad mode off); params without a grad are skipped.
Napi::Value UnscaleGrads(const Napi::CallbackInfo& info) {
  if (info.Length() < 2 || !info[1].IsNumber()) throw Napi::TypeError::New(info.Env(), "unscaleGrads(params, invScale)");
  std::vector<double> ids;
  if (info[0].IsTypedArray()) {
    Napi::Float64Array a = info[0].As<Napi::Float64Array>();
    ids.assign(a.Data(), a.Data() + a.ElementLength());
  } else {
    Napi::Array a = info[0].As<Napi::Array>();
    for (uint32_t k = 0; k < a.Length(); ++k) ids.push_back(a.Get(k).As<Napi::Number>().DoubleValue());
  }
  double inv = info[1].As<Napi::Number>().DoubleValue();
  at::AutoGradMode off(false);
  std::vector<at::Tensor> finite;
  for (double id : ids) {
    at::Tensor* p = regnet_addon::TensorAt(id);
    if (!p) throw Napi::Error::New(info.Env(), "unscaleGrads: parameter used after dispose");
    at::Tensor g = p->grad();
    if (!g.defined()) continue;
    if (inv != 1.0) g.mul_(inv);
    finite.push_back(at::isfinite(g).all().reshape({1}));
  }
  if (finite.empty()) return Napi::Boolean::New(info.Env(), false);
  bool allFinite = at::cat(finite).all().item<bool>();
  return Napi::Boolean::New(info.Env(), !allFinite);
}

// dtypeOf(h) -> 'fp32' | 'bf16' | 'fp16' | 'int64' | ...
Napi::Value DtypeOf(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), DtypeName(Tn(info, 0).scalar_type())); }

// isChannelsLast(h) -> whether a 4-d tensor is laid out NHWC in memory
Napi::Value IsChannelsLast(const Napi::CallbackInfo& info) {
  at::Tensor& t = Tn(info, 0);
  return Napi::Boolean::New(info.Env(), t.dim() == 4 && t.suggest_memory_format() == at::MemoryFormat::ChannelsLast);
}

// toFloat(h) -> a float32 copy (e.g. autocast's bf16 logits before the loss, as timm's fp32 loss ops do)
Napi::Value ToFloat(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), regnet_addon::NewHandle(Tn(info, 0).to(at::kFloat))); }

}  // namespace

void regnet_addon::RegisterAmp(Napi::Env env, Napi::Object exports) {
#define REG(name, fn) exports.Set(name, Napi::Function::New<AmpGuard<fn>>(env, name))
  REG("autocastState", AutocastState);
  REG("autocastEnter", AutocastEnter);
  REG("autocastExit", AutocastExit);
  REG("unscaleGrads", UnscaleGrads);
  REG("dtypeOf", DtypeOf);
  REG("isChannelsLast", IsChannelsLast);
  REG("toFloat", ToFloat);
#undef REG
}
