// What the addon's source files share: the tensor handle table (defined in torch_addon.cc), the guard
// that turns libtorch errors into one-line JS errors, and each file's registration function.
#pragma once

#include <napi.h>

#include <ATen/ATen.h>

#include <exception>
#include <string>

namespace regnet_addon {

// The tensor behind a handle; nullptr when the handle is stale or freed.
at::Tensor* TensorAt(double handle);
// A new handle that owns t.
double NewHandle(at::Tensor t);

// Each file adds its functions to the addon's exports.
void RegisterAmp(Napi::Env env, Napi::Object exports);          // amp.cc
void RegisterDistributed(Napi::Env env, Napi::Object exports);  // distributed.cc

inline std::string FirstLine(std::string m) {
  auto nl = m.find('\n');
  return nl == std::string::npos ? m : m.substr(0, nl);
}

// Call f; a libtorch or C++ error becomes a JS error "<prefix><first line of the message>" (no backtrace).
inline Napi::Value CallGuarded(const Napi::CallbackInfo& info, Napi::Value (*f)(const Napi::CallbackInfo&), const char* prefix) {
  try {
    return f(info);
  } catch (const Napi::Error&) {
    throw;
  } catch (const c10::Error& e) {
    throw Napi::Error::New(info.Env(), prefix + FirstLine(e.what_without_backtrace()));
  } catch (const std::exception& e) {
    throw Napi::Error::New(info.Env(), prefix + FirstLine(e.what()));
  }
}

}  // namespace regnet_addon
