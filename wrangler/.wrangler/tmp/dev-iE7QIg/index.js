var __defProp = Object.defineProperty;
var __name = (target, value) => __defProp(target, "name", { value, configurable: true });

// ../workers/summarizer/build/index.js
import { WorkerEntrypoint as lt } from "cloudflare:workers";
import G from "./6fd75a16069e5577e229197c776c40657d4c835a-index_bg.wasm";
var V = globalThis.__worker_init_state = { criticalError: false, instanceId: 0 };
var v = class {
  static {
    __name(this, "v");
  }
  __destroy_into_raw() {
    let t = this.__wbg_ptr;
    return this.__wbg_ptr = 0, it.unregister(this), t;
  }
  free() {
    let t = this.__destroy_into_raw();
    s();
    try {
      _.__wbg_containerstartupoptions_free(t, 0);
    } catch (e) {
      o(e);
    }
  }
  get enableInternet() {
    if (this.__wbg_inst !== void 0 && this.__wbg_inst !== c) throw new Error("Invalid stale object from previous Wasm instance");
    let t;
    s();
    try {
      t = _.__wbg_get_containerstartupoptions_enableInternet(this.__wbg_ptr);
    } catch (e) {
      o(e);
    }
    return t === 16777215 ? void 0 : t !== 0;
  }
  get entrypoint() {
    if (this.__wbg_inst !== void 0 && this.__wbg_inst !== c) throw new Error("Invalid stale object from previous Wasm instance");
    let t;
    s();
    try {
      t = _.__wbg_get_containerstartupoptions_entrypoint(this.__wbg_ptr);
    } catch (n) {
      o(n);
    }
    var e = ut(t[0], t[1]);
    return _.__wbindgen_free(t[0], t[1] * 4, 4), e;
  }
  get env() {
    if (this.__wbg_inst !== void 0 && this.__wbg_inst !== c) throw new Error("Invalid stale object from previous Wasm instance");
    let t;
    s();
    try {
      t = _.__wbg_get_containerstartupoptions_env(this.__wbg_ptr);
    } catch (e) {
      o(e);
    }
    return t;
  }
  set enableInternet(t) {
    if (this.__wbg_inst !== void 0 && this.__wbg_inst !== c) throw new Error("Invalid stale object from previous Wasm instance");
    s();
    try {
      _.__wbg_set_containerstartupoptions_enableInternet(this.__wbg_ptr, a(t) ? 16777215 : t ? 1 : 0);
    } catch (e) {
      o(e);
    }
  }
  set entrypoint(t) {
    if (this.__wbg_inst !== void 0 && this.__wbg_inst !== c) throw new Error("Invalid stale object from previous Wasm instance");
    let e = dt(t, _.__wbindgen_malloc), n = g;
    s();
    try {
      _.__wbg_set_containerstartupoptions_entrypoint(this.__wbg_ptr, e, n);
    } catch (i) {
      o(i);
    }
  }
  set env(t) {
    if (this.__wbg_inst !== void 0 && this.__wbg_inst !== c) throw new Error("Invalid stale object from previous Wasm instance");
    s();
    try {
      _.__wbg_set_containerstartupoptions_env(this.__wbg_ptr, t);
    } catch (e) {
      o(e);
    }
  }
};
Symbol.dispose && (v.prototype[Symbol.dispose] = v.prototype.free);
var A = class {
  static {
    __name(this, "A");
  }
  __destroy_into_raw() {
    let t = this.__wbg_ptr;
    return this.__wbg_ptr = 0, ot.unregister(this), t;
  }
  free() {
    let t = this.__destroy_into_raw();
    s();
    try {
      _.__wbg_intounderlyingbytesource_free(t, 0);
    } catch (e) {
      o(e);
    }
  }
  get autoAllocateChunkSize() {
    if (this.__wbg_inst !== void 0 && this.__wbg_inst !== c) throw new Error("Invalid stale object from previous Wasm instance");
    let t;
    s();
    try {
      t = _.intounderlyingbytesource_autoAllocateChunkSize(this.__wbg_ptr);
    } catch (e) {
      o(e);
    }
    return t >>> 0;
  }
  cancel() {
    if (this.__wbg_inst !== void 0 && this.__wbg_inst !== c) throw new Error("Invalid stale object from previous Wasm instance");
    let t = this.__destroy_into_raw();
    s();
    try {
      _.intounderlyingbytesource_cancel(t);
    } catch (e) {
      o(e);
    }
  }
  pull(t) {
    if (this.__wbg_inst !== void 0 && this.__wbg_inst !== c) throw new Error("Invalid stale object from previous Wasm instance");
    let e;
    s();
    try {
      e = _.intounderlyingbytesource_pull(this.__wbg_ptr, t);
    } catch (n) {
      o(n);
    }
    return e;
  }
  start(t) {
    if (this.__wbg_inst !== void 0 && this.__wbg_inst !== c) throw new Error("Invalid stale object from previous Wasm instance");
    s();
    try {
      _.intounderlyingbytesource_start(this.__wbg_ptr, t);
    } catch (e) {
      o(e);
    }
  }
  get type() {
    if (this.__wbg_inst !== void 0 && this.__wbg_inst !== c) throw new Error("Invalid stale object from previous Wasm instance");
    let t;
    s();
    try {
      t = _.intounderlyingbytesource_type(this.__wbg_ptr);
    } catch (e) {
      o(e);
    }
    return _t[t];
  }
};
Symbol.dispose && (A.prototype[Symbol.dispose] = A.prototype.free);
var S = class {
  static {
    __name(this, "S");
  }
  __destroy_into_raw() {
    let t = this.__wbg_ptr;
    return this.__wbg_ptr = 0, st.unregister(this), t;
  }
  free() {
    let t = this.__destroy_into_raw();
    s();
    try {
      _.__wbg_intounderlyingsink_free(t, 0);
    } catch (e) {
      o(e);
    }
  }
  abort(t) {
    if (this.__wbg_inst !== void 0 && this.__wbg_inst !== c) throw new Error("Invalid stale object from previous Wasm instance");
    let e = this.__destroy_into_raw(), n;
    s();
    try {
      n = _.intounderlyingsink_abort(e, t);
    } catch (i) {
      o(i);
    }
    return n;
  }
  close() {
    if (this.__wbg_inst !== void 0 && this.__wbg_inst !== c) throw new Error("Invalid stale object from previous Wasm instance");
    let t = this.__destroy_into_raw(), e;
    s();
    try {
      e = _.intounderlyingsink_close(t);
    } catch (n) {
      o(n);
    }
    return e;
  }
  write(t) {
    if (this.__wbg_inst !== void 0 && this.__wbg_inst !== c) throw new Error("Invalid stale object from previous Wasm instance");
    let e;
    s();
    try {
      e = _.intounderlyingsink_write(this.__wbg_ptr, t);
    } catch (n) {
      o(n);
    }
    return e;
  }
};
Symbol.dispose && (S.prototype[Symbol.dispose] = S.prototype.free);
var k = class {
  static {
    __name(this, "k");
  }
  __destroy_into_raw() {
    let t = this.__wbg_ptr;
    return this.__wbg_ptr = 0, ct.unregister(this), t;
  }
  free() {
    let t = this.__destroy_into_raw();
    s();
    try {
      _.__wbg_intounderlyingsource_free(t, 0);
    } catch (e) {
      o(e);
    }
  }
  cancel() {
    if (this.__wbg_inst !== void 0 && this.__wbg_inst !== c) throw new Error("Invalid stale object from previous Wasm instance");
    let t = this.__destroy_into_raw();
    s();
    try {
      _.intounderlyingsource_cancel(t);
    } catch (e) {
      o(e);
    }
  }
  pull(t) {
    if (this.__wbg_inst !== void 0 && this.__wbg_inst !== c) throw new Error("Invalid stale object from previous Wasm instance");
    let e;
    s();
    try {
      e = _.intounderlyingsource_pull(this.__wbg_ptr, t);
    } catch (n) {
      o(n);
    }
    return e;
  }
};
Symbol.dispose && (k.prototype[Symbol.dispose] = k.prototype.free);
var I = class {
  static {
    __name(this, "I");
  }
  __destroy_into_raw() {
    let t = this.__wbg_ptr;
    return this.__wbg_ptr = 0, at.unregister(this), t;
  }
  free() {
    let t = this.__destroy_into_raw();
    s();
    try {
      _.__wbg_minifyconfig_free(t, 0);
    } catch (e) {
      o(e);
    }
  }
  get css() {
    if (this.__wbg_inst !== void 0 && this.__wbg_inst !== c) throw new Error("Invalid stale object from previous Wasm instance");
    let t;
    s();
    try {
      t = _.__wbg_get_minifyconfig_css(this.__wbg_ptr);
    } catch (e) {
      o(e);
    }
    return t !== 0;
  }
  get html() {
    if (this.__wbg_inst !== void 0 && this.__wbg_inst !== c) throw new Error("Invalid stale object from previous Wasm instance");
    let t;
    s();
    try {
      t = _.__wbg_get_minifyconfig_html(this.__wbg_ptr);
    } catch (e) {
      o(e);
    }
    return t !== 0;
  }
  get js() {
    if (this.__wbg_inst !== void 0 && this.__wbg_inst !== c) throw new Error("Invalid stale object from previous Wasm instance");
    let t;
    s();
    try {
      t = _.__wbg_get_minifyconfig_js(this.__wbg_ptr);
    } catch (e) {
      o(e);
    }
    return t !== 0;
  }
  set css(t) {
    if (this.__wbg_inst !== void 0 && this.__wbg_inst !== c) throw new Error("Invalid stale object from previous Wasm instance");
    s();
    try {
      _.__wbg_set_minifyconfig_css(this.__wbg_ptr, t);
    } catch (e) {
      o(e);
    }
  }
  set html(t) {
    if (this.__wbg_inst !== void 0 && this.__wbg_inst !== c) throw new Error("Invalid stale object from previous Wasm instance");
    s();
    try {
      _.__wbg_set_minifyconfig_html(this.__wbg_ptr, t);
    } catch (e) {
      o(e);
    }
  }
  set js(t) {
    if (this.__wbg_inst !== void 0 && this.__wbg_inst !== c) throw new Error("Invalid stale object from previous Wasm instance");
    s();
    try {
      _.__wbg_set_minifyconfig_js(this.__wbg_ptr, t);
    } catch (e) {
      o(e);
    }
  }
};
Symbol.dispose && (I.prototype[Symbol.dispose] = I.prototype.free);
var E = class {
  static {
    __name(this, "E");
  }
  __destroy_into_raw() {
    let t = this.__wbg_ptr;
    return this.__wbg_ptr = 0, ft.unregister(this), t;
  }
  free() {
    let t = this.__destroy_into_raw();
    s();
    try {
      _.__wbg_r2range_free(t, 0);
    } catch (e) {
      o(e);
    }
  }
  get length() {
    if (this.__wbg_inst !== void 0 && this.__wbg_inst !== c) throw new Error("Invalid stale object from previous Wasm instance");
    let t;
    s();
    try {
      t = _.__wbg_get_r2range_length(this.__wbg_ptr);
    } catch (e) {
      o(e);
    }
    return t[0] === 0 ? void 0 : t[1];
  }
  get offset() {
    if (this.__wbg_inst !== void 0 && this.__wbg_inst !== c) throw new Error("Invalid stale object from previous Wasm instance");
    let t;
    s();
    try {
      t = _.__wbg_get_r2range_offset(this.__wbg_ptr);
    } catch (e) {
      o(e);
    }
    return t[0] === 0 ? void 0 : t[1];
  }
  get suffix() {
    if (this.__wbg_inst !== void 0 && this.__wbg_inst !== c) throw new Error("Invalid stale object from previous Wasm instance");
    let t;
    s();
    try {
      t = _.__wbg_get_r2range_suffix(this.__wbg_ptr);
    } catch (e) {
      o(e);
    }
    return t[0] === 0 ? void 0 : t[1];
  }
  set length(t) {
    if (this.__wbg_inst !== void 0 && this.__wbg_inst !== c) throw new Error("Invalid stale object from previous Wasm instance");
    s();
    try {
      _.__wbg_set_r2range_length(this.__wbg_ptr, !a(t), a(t) ? 0 : t);
    } catch (e) {
      o(e);
    }
  }
  set offset(t) {
    if (this.__wbg_inst !== void 0 && this.__wbg_inst !== c) throw new Error("Invalid stale object from previous Wasm instance");
    s();
    try {
      _.__wbg_set_r2range_offset(this.__wbg_ptr, !a(t), a(t) ? 0 : t);
    } catch (e) {
      o(e);
    }
  }
  set suffix(t) {
    if (this.__wbg_inst !== void 0 && this.__wbg_inst !== c) throw new Error("Invalid stale object from previous Wasm instance");
    s();
    try {
      _.__wbg_set_r2range_suffix(this.__wbg_ptr, !a(t), a(t) ? 0 : t);
    } catch (e) {
      o(e);
    }
  }
};
Symbol.dispose && (E.prototype[Symbol.dispose] = E.prototype.free);
function T() {
  c++, p = null, j = null, F = null, typeof numBytesDecoded < "u" && (numBytesDecoded = 0), typeof g < "u" && (g = 0), B = false, z = false, U = new WebAssembly.Instance(G, X()), _ = U.exports, _.__wbindgen_start();
}
__name(T, "T");
function K() {
  let r;
  s();
  try {
    r = _.__worker_init_state();
  } catch (t) {
    o(t);
  }
  return r;
}
__name(K, "K");
function Q(r, t, e) {
  let n;
  s();
  try {
    n = _.queue(r, t, e);
  } catch (i) {
    o(i);
  }
  return n;
}
__name(Q, "Q");
function X() {
  return { __proto__: null, "./index_bg.js": { __proto__: null, __wbg_Error_208446807d0d1e30: /* @__PURE__ */ __name(function(t, e) {
    return Error(m(t, e));
  }, "__wbg_Error_208446807d0d1e30"), __wbg_Number_ff192a72a0dcdf6d: /* @__PURE__ */ __name(function(t) {
    return Number(t);
  }, "__wbg_Number_ff192a72a0dcdf6d"), __wbg___wbindgen_bigint_get_as_i64_11da4b52cd0aedef: /* @__PURE__ */ __name(function(t, e) {
    let n = e, i = typeof n == "bigint" ? n : void 0;
    b().setBigInt64((t >>> 0) + 8, a(i) ? BigInt(0) : i, true), b().setInt32((t >>> 0) + 0, !a(i), true);
  }, "__wbg___wbindgen_bigint_get_as_i64_11da4b52cd0aedef"), __wbg___wbindgen_boolean_get_4f1baf9a00be3c74: /* @__PURE__ */ __name(function(t) {
    let e = t, n = typeof e == "boolean" ? e : void 0;
    return a(n) ? 16777215 : n ? 1 : 0;
  }, "__wbg___wbindgen_boolean_get_4f1baf9a00be3c74"), __wbg___wbindgen_debug_string_f249a2a76caa9a55: /* @__PURE__ */ __name(function(t, e) {
    let n = Z(e), i = y(n, _.__wbindgen_malloc, _.__wbindgen_realloc), f = g;
    b().setInt32((t >>> 0) + 4, f, true), b().setInt32((t >>> 0) + 0, i, true);
  }, "__wbg___wbindgen_debug_string_f249a2a76caa9a55"), __wbg___wbindgen_in_3f58a9d3b3a7eed2: /* @__PURE__ */ __name(function(t, e) {
    return t in e;
  }, "__wbg___wbindgen_in_3f58a9d3b3a7eed2"), __wbg___wbindgen_is_bigint_5fa10641e039d3ef: /* @__PURE__ */ __name(function(t) {
    return typeof t == "bigint";
  }, "__wbg___wbindgen_is_bigint_5fa10641e039d3ef"), __wbg___wbindgen_is_function_741ff2bb612836f5: /* @__PURE__ */ __name(function(t) {
    return typeof t == "function";
  }, "__wbg___wbindgen_is_function_741ff2bb612836f5"), __wbg___wbindgen_is_null_c22311b1cc228e3a: /* @__PURE__ */ __name(function(t) {
    return t === null;
  }, "__wbg___wbindgen_is_null_c22311b1cc228e3a"), __wbg___wbindgen_is_null_or_undefined_fb96af93c75460ae: /* @__PURE__ */ __name(function(t) {
    return t == null;
  }, "__wbg___wbindgen_is_null_or_undefined_fb96af93c75460ae"), __wbg___wbindgen_is_object_8b968c3ab8e96595: /* @__PURE__ */ __name(function(t) {
    let e = t;
    return typeof e == "object" && e !== null;
  }, "__wbg___wbindgen_is_object_8b968c3ab8e96595"), __wbg___wbindgen_is_undefined_be5b34249ff1fc15: /* @__PURE__ */ __name(function(t) {
    return t === void 0;
  }, "__wbg___wbindgen_is_undefined_be5b34249ff1fc15"), __wbg___wbindgen_jsval_eq_38d7bfbe4cc84039: /* @__PURE__ */ __name(function(t, e) {
    return t === e;
  }, "__wbg___wbindgen_jsval_eq_38d7bfbe4cc84039"), __wbg___wbindgen_jsval_loose_eq_b2f214e2e4b30e36: /* @__PURE__ */ __name(function(t, e) {
    return t == e;
  }, "__wbg___wbindgen_jsval_loose_eq_b2f214e2e4b30e36"), __wbg___wbindgen_number_get_934b640d0889af78: /* @__PURE__ */ __name(function(t, e) {
    let n = e, i = typeof n == "number" ? n : void 0;
    b().setFloat64((t >>> 0) + 8, a(i) ? 0 : i, true), b().setInt32((t >>> 0) + 0, !a(i), true);
  }, "__wbg___wbindgen_number_get_934b640d0889af78"), __wbg___wbindgen_reinit_2fe0d0b9c1cc3c21: /* @__PURE__ */ __name(function() {
    z = true;
  }, "__wbg___wbindgen_reinit_2fe0d0b9c1cc3c21"), __wbg___wbindgen_string_from_utf8_lossy_396336d3428c3bd9: /* @__PURE__ */ __name(function(t, e) {
    return et(C(t, e));
  }, "__wbg___wbindgen_string_from_utf8_lossy_396336d3428c3bd9"), __wbg___wbindgen_string_get_7ce8eee7fd327545: /* @__PURE__ */ __name(function(t, e) {
    let n = e, i = typeof n == "string" ? n : void 0;
    var f = a(i) ? 0 : y(i, _.__wbindgen_malloc, _.__wbindgen_realloc), u = g;
    b().setInt32((t >>> 0) + 4, u, true), b().setInt32((t >>> 0) + 0, f, true);
  }, "__wbg___wbindgen_string_get_7ce8eee7fd327545"), __wbg___wbindgen_throw_4c88d8bf264fd984: /* @__PURE__ */ __name(function(t, e) {
    throw new WebAssembly.Exception(L, [new Error(m(t, e))]);
  }, "__wbg___wbindgen_throw_4c88d8bf264fd984"), __wbg__wbg_cb_unref_09736879a3f67559: /* @__PURE__ */ __name(function(t) {
    t._wbg_cb_unref();
  }, "__wbg__wbg_cb_unref_09736879a3f67559"), __wbg_ack_e7d4cd4877e771e9: /* @__PURE__ */ __name(function(t) {
    t.ack();
  }, "__wbg_ack_e7d4cd4877e771e9"), __wbg_all_d28c206485f72134: /* @__PURE__ */ __name(function(t) {
    return t.all();
  }, "__wbg_all_d28c206485f72134"), __wbg_arrayBuffer_2fd32ecc9ba5d782: /* @__PURE__ */ __name(function(t) {
    return t.arrayBuffer();
  }, "__wbg_arrayBuffer_2fd32ecc9ba5d782"), __wbg_batch_d54a0dc86c491bc6: /* @__PURE__ */ __name(function(t, e) {
    return t.batch(e);
  }, "__wbg_batch_d54a0dc86c491bc6"), __wbg_bind_0bf8b02f8e144a7d: /* @__PURE__ */ __name(function(t, e) {
    return t.bind(...e);
  }, "__wbg_bind_0bf8b02f8e144a7d"), __wbg_body_78b8e8144230c8a9: /* @__PURE__ */ __name(function(t) {
    return t.body;
  }, "__wbg_body_78b8e8144230c8a9"), __wbg_buffer_aca05a93c046db1a: /* @__PURE__ */ __name(function(t) {
    return t.buffer;
  }, "__wbg_buffer_aca05a93c046db1a"), __wbg_byobRequest_18280c78e462544c: /* @__PURE__ */ __name(function(t) {
    let e = t.byobRequest;
    return a(e) ? 0 : l(e);
  }, "__wbg_byobRequest_18280c78e462544c"), __wbg_byteLength_c5f3c188d5252e5b: /* @__PURE__ */ __name(function(t) {
    return t.byteLength;
  }, "__wbg_byteLength_c5f3c188d5252e5b"), __wbg_byteOffset_63cdc7b38f33a45e: /* @__PURE__ */ __name(function(t) {
    return t.byteOffset;
  }, "__wbg_byteOffset_63cdc7b38f33a45e"), __wbg_cacheControl_7a6c0db57be93161: /* @__PURE__ */ __name(function(t, e) {
    let n = e.cacheControl;
    var i = a(n) ? 0 : y(n, _.__wbindgen_malloc, _.__wbindgen_realloc), f = g;
    b().setInt32((t >>> 0) + 4, f, true), b().setInt32((t >>> 0) + 0, i, true);
  }, "__wbg_cacheControl_7a6c0db57be93161"), __wbg_cacheExpiry_84365f2808afdf06: /* @__PURE__ */ __name(function(t) {
    let e = t.cacheExpiry;
    return a(e) ? 0 : l(e);
  }, "__wbg_cacheExpiry_84365f2808afdf06"), __wbg_call_a410eb4b59ed5965: /* @__PURE__ */ __name(function(t, e, n) {
    return t.call(e, n);
  }, "__wbg_call_a410eb4b59ed5965"), __wbg_cause_4cdda1b55a30b227: /* @__PURE__ */ __name(function(t) {
    return t.cause;
  }, "__wbg_cause_4cdda1b55a30b227"), __wbg_close_294d3f727cb7a844: /* @__PURE__ */ __name(function(t) {
    t.close();
  }, "__wbg_close_294d3f727cb7a844"), __wbg_close_bf94aa7e38b9a94b: /* @__PURE__ */ __name(function(t) {
    t.close();
  }, "__wbg_close_bf94aa7e38b9a94b"), __wbg_constructor_76ad3e2c50d259de: /* @__PURE__ */ __name(function(t) {
    return t.constructor;
  }, "__wbg_constructor_76ad3e2c50d259de"), __wbg_contentDisposition_ce793ab7110dfa1f: /* @__PURE__ */ __name(function(t, e) {
    let n = e.contentDisposition;
    var i = a(n) ? 0 : y(n, _.__wbindgen_malloc, _.__wbindgen_realloc), f = g;
    b().setInt32((t >>> 0) + 4, f, true), b().setInt32((t >>> 0) + 0, i, true);
  }, "__wbg_contentDisposition_ce793ab7110dfa1f"), __wbg_contentEncoding_550111ff7e6dd405: /* @__PURE__ */ __name(function(t, e) {
    let n = e.contentEncoding;
    var i = a(n) ? 0 : y(n, _.__wbindgen_malloc, _.__wbindgen_realloc), f = g;
    b().setInt32((t >>> 0) + 4, f, true), b().setInt32((t >>> 0) + 0, i, true);
  }, "__wbg_contentEncoding_550111ff7e6dd405"), __wbg_contentLanguage_b2f57d341ee434b5: /* @__PURE__ */ __name(function(t, e) {
    let n = e.contentLanguage;
    var i = a(n) ? 0 : y(n, _.__wbindgen_malloc, _.__wbindgen_realloc), f = g;
    b().setInt32((t >>> 0) + 4, f, true), b().setInt32((t >>> 0) + 0, i, true);
  }, "__wbg_contentLanguage_b2f57d341ee434b5"), __wbg_contentType_1b59a0112edbe2d5: /* @__PURE__ */ __name(function(t, e) {
    let n = e.contentType;
    var i = a(n) ? 0 : y(n, _.__wbindgen_malloc, _.__wbindgen_realloc), f = g;
    b().setInt32((t >>> 0) + 4, f, true), b().setInt32((t >>> 0) + 0, i, true);
  }, "__wbg_contentType_1b59a0112edbe2d5"), __wbg_debug_29e5044b8c3730bb: /* @__PURE__ */ __name(function(t) {
    console.debug(t);
  }, "__wbg_debug_29e5044b8c3730bb"), __wbg_enqueue_c11626eae1c54509: /* @__PURE__ */ __name(function(t, e) {
    t.enqueue(e);
  }, "__wbg_enqueue_c11626eae1c54509"), __wbg_error_2b884f8f7d9acc4f: /* @__PURE__ */ __name(function(t, e) {
    let n = e.error;
    var i = a(n) ? 0 : y(n, _.__wbindgen_malloc, _.__wbindgen_realloc), f = g;
    b().setInt32((t >>> 0) + 4, f, true), b().setInt32((t >>> 0) + 0, i, true);
  }, "__wbg_error_2b884f8f7d9acc4f"), __wbg_error_9b95f63d905893d2: /* @__PURE__ */ __name(function(t, e) {
    console.error(t, e);
  }, "__wbg_error_9b95f63d905893d2"), __wbg_error_d1fc0193610e0e39: /* @__PURE__ */ __name(function(t) {
    console.error(t);
  }, "__wbg_error_d1fc0193610e0e39"), __wbg_getTime_edc91481cbc4cd78: /* @__PURE__ */ __name(function(t) {
    return t.getTime();
  }, "__wbg_getTime_edc91481cbc4cd78"), __wbg_get_0ae635d02d232017: /* @__PURE__ */ __name(function(t, e) {
    let n = Reflect.get(t, e);
    return a(n) ? 0 : l(n);
  }, "__wbg_get_0ae635d02d232017"), __wbg_get_2080c49015e35254: /* @__PURE__ */ __name(function(t, e) {
    return Reflect.get(t, e);
  }, "__wbg_get_2080c49015e35254"), __wbg_get_5c28e15912dc5a17: /* @__PURE__ */ __name(function(t, e, n, i) {
    let f, u;
    try {
      return f = e, u = n, t.get(m(e, n), i);
    } finally {
      s();
      try {
        _.__wbindgen_free(f, u, 1);
      } catch (d) {
        o(d);
      }
    }
  }, "__wbg_get_5c28e15912dc5a17"), __wbg_get_d7176cfb76d71114: /* @__PURE__ */ __name(function(t, e) {
    return t[e >>> 0];
  }, "__wbg_get_d7176cfb76d71114"), __wbg_get_unchecked_e6325ad374eff861: /* @__PURE__ */ __name(function(t, e) {
    return t[e >>> 0];
  }, "__wbg_get_unchecked_e6325ad374eff861"), __wbg_get_with_ref_key_fc601247060b7204: /* @__PURE__ */ __name(function(t, e) {
    return t[e];
  }, "__wbg_get_with_ref_key_fc601247060b7204"), __wbg_httpMetadata_21af1b769c7da1a5: /* @__PURE__ */ __name(function(t) {
    return t.httpMetadata;
  }, "__wbg_httpMetadata_21af1b769c7da1a5"), __wbg_id_ab56c7a1df8a7a3b: /* @__PURE__ */ __name(function(t) {
    return t.id;
  }, "__wbg_id_ab56c7a1df8a7a3b"), __wbg_info_ef9e889444913d2f: /* @__PURE__ */ __name(function(t) {
    console.info(t);
  }, "__wbg_info_ef9e889444913d2f"), __wbg_instanceId_65a51bedfd10160a: /* @__PURE__ */ __name(function(t) {
    return t.instanceId;
  }, "__wbg_instanceId_65a51bedfd10160a"), __wbg_instanceof_ArrayBuffer_12cdaa4161423e6b: /* @__PURE__ */ __name(function(t) {
    let e;
    try {
      e = t instanceof ArrayBuffer;
    } catch {
      e = false;
    }
    return e;
  }, "__wbg_instanceof_ArrayBuffer_12cdaa4161423e6b"), __wbg_instanceof_Error_74e3cca0c4a69161: /* @__PURE__ */ __name(function(t) {
    let e;
    try {
      e = t instanceof Error;
    } catch {
      e = false;
    }
    return e;
  }, "__wbg_instanceof_Error_74e3cca0c4a69161"), __wbg_instanceof_Uint8Array_d7aeb0dcb3108fea: /* @__PURE__ */ __name(function(t) {
    let e;
    try {
      e = t instanceof Uint8Array;
    } catch {
      e = false;
    }
    return e;
  }, "__wbg_instanceof_Uint8Array_d7aeb0dcb3108fea"), __wbg_isArray_bcf1376d0d732d08: /* @__PURE__ */ __name(function(t) {
    return Array.isArray(t);
  }, "__wbg_isArray_bcf1376d0d732d08"), __wbg_isSafeInteger_1a35ba4d31e71d38: /* @__PURE__ */ __name(function(t) {
    return Number.isSafeInteger(t);
  }, "__wbg_isSafeInteger_1a35ba4d31e71d38"), __wbg_length_186163212ffe79c3: /* @__PURE__ */ __name(function(t) {
    return t.length;
  }, "__wbg_length_186163212ffe79c3"), __wbg_length_b03a0fabb109b1e9: /* @__PURE__ */ __name(function(t) {
    return t.length;
  }, "__wbg_length_b03a0fabb109b1e9"), __wbg_message_43d8c8f1d543a349: /* @__PURE__ */ __name(function(t) {
    return t.message;
  }, "__wbg_message_43d8c8f1d543a349"), __wbg_messages_fbf4ee230684c3ec: /* @__PURE__ */ __name(function(t) {
    return t.messages;
  }, "__wbg_messages_fbf4ee230684c3ec"), __wbg_meta_16ceaf7f888080b3: /* @__PURE__ */ __name(function(t) {
    return t.meta;
  }, "__wbg_meta_16ceaf7f888080b3"), __wbg_name_d1fa514fdca6a975: /* @__PURE__ */ __name(function(t) {
    return t.name;
  }, "__wbg_name_d1fa514fdca6a975"), __wbg_name_fd11f69c917c5670: /* @__PURE__ */ __name(function(t) {
    return t.name;
  }, "__wbg_name_fd11f69c917c5670"), __wbg_new_0_36d738a0c8cfac43: /* @__PURE__ */ __name(function() {
    return /* @__PURE__ */ new Date();
  }, "__wbg_new_0_36d738a0c8cfac43"), __wbg_new_13de428334042d26: /* @__PURE__ */ __name(function(t) {
    return new Uint8Array(t);
  }, "__wbg_new_13de428334042d26"), __wbg_new_37eb45aaf5eeb820: /* @__PURE__ */ __name(function() {
    return new Array();
  }, "__wbg_new_37eb45aaf5eeb820"), __wbg_new_787b9fb330d55d78: /* @__PURE__ */ __name(function(t, e) {
    return new Error(m(t, e));
  }, "__wbg_new_787b9fb330d55d78"), __wbg_new_cd4348290afae586: /* @__PURE__ */ __name(function() {
    return new Object();
  }, "__wbg_new_cd4348290afae586"), __wbg_new_typed_e09da9dae6ee5935: /* @__PURE__ */ __name(function(t, e) {
    try {
      var n = { a: t, b: e }, i = /* @__PURE__ */ __name((u, d) => {
        let w = n.a;
        n.a = 0;
        try {
          return rt(w, n.b, u, d);
        } finally {
          n.a = w;
        }
      }, "i");
      return new Promise(i);
    } finally {
      n.a = 0;
    }
  }, "__wbg_new_typed_e09da9dae6ee5935"), __wbg_new_with_byte_offset_and_length_3cd32055a417f095: /* @__PURE__ */ __name(function(t, e, n) {
    return new Uint8Array(t, e >>> 0, n >>> 0);
  }, "__wbg_new_with_byte_offset_and_length_3cd32055a417f095"), __wbg_now_463ac581d2fc7ea3: /* @__PURE__ */ __name(function() {
    return Date.now();
  }, "__wbg_now_463ac581d2fc7ea3"), __wbg_prepare_50d1ec53a3871b75: /* @__PURE__ */ __name(function(t, e, n) {
    return t.prepare(m(e, n));
  }, "__wbg_prepare_50d1ec53a3871b75"), __wbg_prototypesetcall_13162965d1fe7aa3: /* @__PURE__ */ __name(function(t, e, n) {
    Uint8Array.prototype.set.call(C(t, e), n);
  }, "__wbg_prototypesetcall_13162965d1fe7aa3"), __wbg_push_c9f4893fc209f768: /* @__PURE__ */ __name(function(t, e) {
    return t.push(e);
  }, "__wbg_push_c9f4893fc209f768"), __wbg_queueMicrotask_1e8503a8a690f0a3: /* @__PURE__ */ __name(function(t) {
    return t.queueMicrotask;
  }, "__wbg_queueMicrotask_1e8503a8a690f0a3"), __wbg_queueMicrotask_4a1a4d8dd332373b: /* @__PURE__ */ __name(function(t) {
    queueMicrotask(t);
  }, "__wbg_queueMicrotask_4a1a4d8dd332373b"), __wbg_queue_2e2aaae43565e646: /* @__PURE__ */ __name(function(t) {
    return t.queue;
  }, "__wbg_queue_2e2aaae43565e646"), __wbg_random_df36b90cd78a7d54: /* @__PURE__ */ __name(function() {
    return Math.random();
  }, "__wbg_random_df36b90cd78a7d54"), __wbg_resolve_dbf78ab4942478b0: /* @__PURE__ */ __name(function(t) {
    return Promise.resolve(t);
  }, "__wbg_resolve_dbf78ab4942478b0"), __wbg_respond_d97c023ee981d1f5: /* @__PURE__ */ __name(function(t, e) {
    t.respond(e >>> 0);
  }, "__wbg_respond_d97c023ee981d1f5"), __wbg_results_978a5156e9f5bf3d: /* @__PURE__ */ __name(function(t) {
    let e = t.results;
    return a(e) ? 0 : l(e);
  }, "__wbg_results_978a5156e9f5bf3d"), __wbg_retryAll_aba1b27661393c76: /* @__PURE__ */ __name(function(t, e) {
    t.retryAll(e);
  }, "__wbg_retryAll_aba1b27661393c76"), __wbg_retry_22b97179dd232363: /* @__PURE__ */ __name(function(t, e) {
    t.retry(e);
  }, "__wbg_retry_22b97179dd232363"), __wbg_run_ba372e9d0b56e06f: /* @__PURE__ */ __name(function(t) {
    return t.run();
  }, "__wbg_run_ba372e9d0b56e06f"), __wbg_set_2793479888329cb6: /* @__PURE__ */ __name(function(t, e, n) {
    return Reflect.set(t, e, n);
  }, "__wbg_set_2793479888329cb6"), __wbg_set_criticalError_c30445da7038dbf2: /* @__PURE__ */ __name(function(t, e) {
    t.criticalError = e !== 0;
  }, "__wbg_set_criticalError_c30445da7038dbf2"), __wbg_set_e4b9a833d288759a: /* @__PURE__ */ __name(function(t, e, n) {
    t[e] = n;
  }, "__wbg_set_e4b9a833d288759a"), __wbg_set_feb3714f475485ba: /* @__PURE__ */ __name(function(t, e, n) {
    t.set(C(e, n));
  }, "__wbg_set_feb3714f475485ba"), __wbg_set_instanceId_6f5f77d81e249b49: /* @__PURE__ */ __name(function(t, e) {
    t.instanceId = e >>> 0;
  }, "__wbg_set_instanceId_6f5f77d81e249b49"), __wbg_size_d6b35c1ab8137a7f: /* @__PURE__ */ __name(function(t) {
    return t.size;
  }, "__wbg_size_d6b35c1ab8137a7f"), __wbg_static_accessor_GLOBAL_THIS_003ee833af9699fc: /* @__PURE__ */ __name(function() {
    let t = typeof globalThis > "u" ? void 0 : globalThis;
    return a(t) ? 0 : l(t);
  }, "__wbg_static_accessor_GLOBAL_THIS_003ee833af9699fc"), __wbg_static_accessor_GLOBAL_e4293fb22cbe77da: /* @__PURE__ */ __name(function() {
    let t = typeof global > "u" ? void 0 : global;
    return a(t) ? 0 : l(t);
  }, "__wbg_static_accessor_GLOBAL_e4293fb22cbe77da"), __wbg_static_accessor_INIT_STATE_b2269150d11f01e0: /* @__PURE__ */ __name(function() {
    return V;
  }, "__wbg_static_accessor_INIT_STATE_b2269150d11f01e0"), __wbg_static_accessor_SELF_53bb20457401453d: /* @__PURE__ */ __name(function() {
    let t = typeof self > "u" ? void 0 : self;
    return a(t) ? 0 : l(t);
  }, "__wbg_static_accessor_SELF_53bb20457401453d"), __wbg_static_accessor_WINDOW_b5e0810bfecb7feb: /* @__PURE__ */ __name(function() {
    let t = typeof window > "u" ? void 0 : window;
    return a(t) ? 0 : l(t);
  }, "__wbg_static_accessor_WINDOW_b5e0810bfecb7feb"), __wbg_stringify_0a0fbf2ef722380a: /* @__PURE__ */ __name(function(t) {
    return JSON.stringify(t);
  }, "__wbg_stringify_0a0fbf2ef722380a"), __wbg_then_656f253a5dd7d8ea: /* @__PURE__ */ __name(function(t, e, n) {
    return t.then(e, n);
  }, "__wbg_then_656f253a5dd7d8ea"), __wbg_then_e3f7f2d365708be8: /* @__PURE__ */ __name(function(t, e) {
    return t.then(e);
  }, "__wbg_then_e3f7f2d365708be8"), __wbg_view_3b708d3bdaf3fc96: /* @__PURE__ */ __name(function(t) {
    let e = t.view;
    return a(e) ? 0 : l(e);
  }, "__wbg_view_3b708d3bdaf3fc96"), __wbg_warn_228ff2257384d295: /* @__PURE__ */ __name(function(t) {
    console.warn(t);
  }, "__wbg_warn_228ff2257384d295"), __wbindgen_generic_0000000000000001: /* @__PURE__ */ __name(function(t, e) {
    return bt(t, e, nt);
  }, "__wbindgen_generic_0000000000000001"), __wbindgen_generic_0000000000000002: /* @__PURE__ */ __name(function(t) {
    return t;
  }, "__wbindgen_generic_0000000000000002"), __wbindgen_generic_0000000000000003: /* @__PURE__ */ __name(function(t) {
    return t;
  }, "__wbindgen_generic_0000000000000003"), __wbindgen_generic_0000000000000004: /* @__PURE__ */ __name(function(t, e) {
    return m(t, e);
  }, "__wbindgen_generic_0000000000000004"), __wbindgen_generic_0000000000000005: /* @__PURE__ */ __name(function(t) {
    return BigInt.asUintN(64, t);
  }, "__wbindgen_generic_0000000000000005"), __wbindgen_init_externref_table: /* @__PURE__ */ __name(function() {
    let t = _.__wbindgen_externrefs;
    t.set(0, void 0), t.set(1024, void 0), t.set(1025, null), t.set(1026, true), t.set(1027, false);
  }, "__wbindgen_init_externref_table"), __wbindgen_jstag: WebAssembly.JSTag, __wbindgen_rethrow_critical: /* @__PURE__ */ __name(function(t) {
    throw new Error("Critical error", { cause: t });
  }, "__wbindgen_rethrow_critical") } };
}
__name(X, "X");
var L = new WebAssembly.Tag({ parameters: ["externref"] });
var D;
var B = false;
function Y() {
  B = true;
  try {
    let r = N()[_.__abort_handler.value / 4];
    r && _.__wbindgen_export.get(r)();
  } catch {
  }
}
__name(Y, "Y");
function o(r) {
  throw r instanceof WebAssembly.Exception && r.is(L) ? r.getArg(L, 0) : (N()[D] = 1, Y(), r);
}
__name(o, "o");
function s() {
  if (D ??= _.__instance_terminated.value / 4, N()[D]) {
    if (B || Y(), z) {
      T();
      return;
    }
    throw new Error("Module terminated");
  } else z && T();
}
__name(s, "s");
function nt(r, t, e) {
  let n;
  s();
  try {
    n = _.wasm_bindgen__convert__closures_____invoke__h3cbffd13cb6488a3(r, t, e);
  } catch (i) {
    o(i);
  }
  if (n[1]) throw gt(n[0]);
}
__name(nt, "nt");
function rt(r, t, e, n) {
  s();
  try {
    _.wasm_bindgen__convert__closures_____invoke__h0657cf43f08f1666(r, t, e, n);
  } catch (i) {
    o(i);
  }
}
__name(rt, "rt");
var _t = ["bytes"];
var c = 0;
var it = typeof FinalizationRegistry > "u" ? { register: /* @__PURE__ */ __name(() => {
}, "register"), unregister: /* @__PURE__ */ __name(() => {
}, "unregister") } : new FinalizationRegistry(({ ptr: r, instance: t }) => {
  t === c && _.__wbg_containerstartupoptions_free(r, 1);
});
var ot = typeof FinalizationRegistry > "u" ? { register: /* @__PURE__ */ __name(() => {
}, "register"), unregister: /* @__PURE__ */ __name(() => {
}, "unregister") } : new FinalizationRegistry(({ ptr: r, instance: t }) => {
  t === c && _.__wbg_intounderlyingbytesource_free(r, 1);
});
var st = typeof FinalizationRegistry > "u" ? { register: /* @__PURE__ */ __name(() => {
}, "register"), unregister: /* @__PURE__ */ __name(() => {
}, "unregister") } : new FinalizationRegistry(({ ptr: r, instance: t }) => {
  t === c && _.__wbg_intounderlyingsink_free(r, 1);
});
var ct = typeof FinalizationRegistry > "u" ? { register: /* @__PURE__ */ __name(() => {
}, "register"), unregister: /* @__PURE__ */ __name(() => {
}, "unregister") } : new FinalizationRegistry(({ ptr: r, instance: t }) => {
  t === c && _.__wbg_intounderlyingsource_free(r, 1);
});
var at = typeof FinalizationRegistry > "u" ? { register: /* @__PURE__ */ __name(() => {
}, "register"), unregister: /* @__PURE__ */ __name(() => {
}, "unregister") } : new FinalizationRegistry(({ ptr: r, instance: t }) => {
  t === c && _.__wbg_minifyconfig_free(r, 1);
});
var ft = typeof FinalizationRegistry > "u" ? { register: /* @__PURE__ */ __name(() => {
}, "register"), unregister: /* @__PURE__ */ __name(() => {
}, "unregister") } : new FinalizationRegistry(({ ptr: r, instance: t }) => {
  t === c && _.__wbg_r2range_free(r, 1);
});
function l(r) {
  let t = _.__externref_table_alloc();
  return _.__wbindgen_externrefs.set(t, r), t;
}
__name(l, "l");
var H = typeof FinalizationRegistry > "u" ? { register: /* @__PURE__ */ __name(() => {
}, "register"), unregister: /* @__PURE__ */ __name(() => {
}, "unregister") } : new FinalizationRegistry((r) => {
  r.instance === c && _.__wbindgen_destroy_closure(r.a, r.b);
});
function Z(r) {
  switch (typeof r) {
    case "number":
    case "boolean":
    case "undefined":
      return `${r}`;
    case "string":
      return JSON.stringify(r);
    case "bigint":
      return `${r}n`;
    case "symbol":
      return r.description !== void 0 ? `Symbol(${r.description})` : "Symbol";
    case "function":
      return typeof r.name == "string" && r.name !== "" ? `Function(${r.name})` : "Function";
    case "object": {
      if (r === null) return "null";
      if (Array.isArray(r)) return "[" + Array.from(r, Z).join(", ") + "]";
      if (r instanceof Error) return `${r.name}: ${r.message}
${r.stack}`;
      let t = toString.call(r), e = /\[object ([^\]]+)\]/.exec(t)?.[1];
      if (e === void 0) return t;
      if (e === "Object") try {
        return "Object(" + JSON.stringify(r) + ")";
      } catch {
        return "Object";
      }
      return e;
    }
  }
}
__name(Z, "Z");
function ut(r, t) {
  r = r >>> 0;
  let e = b(), n = [];
  for (let i = r; i < r + 4 * t; i += 4) n.push(_.__wbindgen_externrefs.get(e.getUint32(i, true)));
  return _.__externref_drop_slice(r, t), n;
}
__name(ut, "ut");
function C(r, t) {
  return r = r >>> 0, W().subarray(r / 1, r / 1 + t);
}
__name(C, "C");
var p = null;
function b() {
  return (p === null || p.buffer.detached === true || p.buffer.detached === void 0 && p.buffer !== _.memory.buffer) && (p = new DataView(_.memory.buffer)), p;
}
__name(b, "b");
var j = null;
function N() {
  return (j === null || j.byteLength === 0) && (j = new Int32Array(_.memory.buffer)), j;
}
__name(N, "N");
function m(r, t) {
  return r = r >>> 0, et(W().subarray(r, r + t));
}
__name(m, "m");
var F = null;
function W() {
  return (F === null || F.byteLength === 0) && (F = new Uint8Array(_.memory.buffer)), F;
}
__name(W, "W");
function a(r) {
  return r == null;
}
__name(a, "a");
function bt(r, t, e) {
  let n = { a: r, b: t, cnt: 1, instance: c }, i = /* @__PURE__ */ __name((...f) => {
    if (n.instance !== c) throw new Error("Cannot invoke closure from previous WASM instance");
    n.cnt++;
    let u = n.a;
    n.a = 0;
    try {
      return e(u, n.b, ...f);
    } finally {
      n.a = u, i._wbg_cb_unref();
    }
  }, "i");
  return i._wbg_cb_unref = () => {
    --n.cnt === 0 && (_.__wbindgen_destroy_closure(n.a, n.b), n.a = 0, H.unregister(n));
  }, H.register(i, n, n), i;
}
__name(bt, "bt");
function dt(r, t) {
  let e = t(r.length * 4, 4) >>> 0;
  for (let n = 0; n < r.length; n++) {
    let i = l(r[n]);
    b().setUint32(e + 4 * n, i, true);
  }
  return g = r.length, e;
}
__name(dt, "dt");
function y(r, t, e) {
  if (e === void 0) {
    let d = R.encode(r), w = t(d.length, 1) >>> 0;
    return W().subarray(w, w + d.length).set(d), g = d.length, w;
  }
  let n = r.length, i = t(n, 1) >>> 0, f = W(), u = 0;
  for (; u < n; u++) {
    let d = r.charCodeAt(u);
    if (d > 127) break;
    f[i + u] = d;
  }
  if (u !== n) {
    u !== 0 && (r = r.slice(u)), i = e(i, n, n = u + r.length * 3, 1) >>> 0;
    let d = W().subarray(i + u, i + n), w = R.encodeInto(r, d);
    u += w.written, i = e(i, n, u, 1) >>> 0;
  }
  return g = u, i;
}
__name(y, "y");
var z = false;
function gt(r) {
  let t = _.__wbindgen_externrefs.get(r);
  return _.__externref_table_dealloc(r), t;
}
__name(gt, "gt");
var tt = new TextDecoder("utf-8", { ignoreBOM: true });
tt.decode();
function et(r) {
  return tt.decode(r);
}
__name(et, "et");
var R = new TextEncoder();
"encodeInto" in R || (R.encodeInto = function(r, t) {
  let e = R.encode(r);
  return t.set(e), { read: r.length, written: e.length };
});
var g = 0;
var U = new WebAssembly.Instance(G, X());
var _ = U.exports;
_.__wbindgen_start();
Error.stackTraceLimit = 100;
var h = K();
function $() {
  h.criticalError && (console.log("Reinitializing Wasm application"), T(), h.criticalError = false, h.instanceId++);
}
__name($, "$");
addEventListener("error", (r) => {
  J(r.error);
});
function J(r) {
  r instanceof WebAssembly.RuntimeError && (console.error("Critical", r), h.criticalError = true);
}
__name(J, "J");
var O = class extends lt {
  static {
    __name(this, "O");
  }
};
O.prototype.queue = function(t) {
  return Q.call(this, t, this.env, this.ctx);
};
var yt = { set: /* @__PURE__ */ __name((r, t, e, n) => Reflect.set(r.instance, t, e, n), "set"), has: /* @__PURE__ */ __name((r, t) => Reflect.has(r.instance, t), "has"), deleteProperty: /* @__PURE__ */ __name((r, t) => Reflect.deleteProperty(r.instance, t), "deleteProperty"), apply: /* @__PURE__ */ __name((r, t, e) => Reflect.apply(r.instance, t, e), "apply"), construct: /* @__PURE__ */ __name((r, t, e) => Reflect.construct(r.instance, t, e), "construct"), getPrototypeOf: /* @__PURE__ */ __name((r) => Reflect.getPrototypeOf(r.instance), "getPrototypeOf"), setPrototypeOf: /* @__PURE__ */ __name((r, t) => Reflect.setPrototypeOf(r.instance, t), "setPrototypeOf"), isExtensible: /* @__PURE__ */ __name((r) => Reflect.isExtensible(r.instance), "isExtensible"), preventExtensions: /* @__PURE__ */ __name((r) => Reflect.preventExtensions(r.instance), "preventExtensions"), getOwnPropertyDescriptor: /* @__PURE__ */ __name((r, t) => Reflect.getOwnPropertyDescriptor(r.instance, t), "getOwnPropertyDescriptor"), defineProperty: /* @__PURE__ */ __name((r, t, e) => Reflect.defineProperty(r.instance, t, e), "defineProperty"), ownKeys: /* @__PURE__ */ __name((r) => Reflect.ownKeys(r.instance), "ownKeys") };
var M = { construct(r, t, e) {
  try {
    $();
    let n = { instance: Reflect.construct(r, t, e), instanceId: h.instanceId, ctor: r, args: t, newTarget: e };
    return new Proxy(n, { ...yt, get(i, f, u) {
      i.instanceId !== h.instanceId && (i.instance = Reflect.construct(i.ctor, i.args, i.newTarget), i.instanceId = h.instanceId);
      let d = Reflect.get(i.instance, f, u);
      return typeof d != "function" ? d : d.constructor === Function ? new Proxy(d, { apply(w, P, q) {
        $();
        try {
          return w.apply(P, q);
        } catch (x) {
          throw J(x), x;
        }
      } }) : new Proxy(d, { async apply(w, P, q) {
        $();
        try {
          return await w.apply(P, q);
        } catch (x) {
          throw J(x), x;
        }
      } });
    } });
  } catch (n) {
    throw h.criticalError = true, n;
  }
} };
var It = new Proxy(O, M);
var Et = new Proxy(v, M);
var xt = new Proxy(I, M);
var jt = new Proxy(E, M);

// ../node_modules/wrangler/templates/middleware/middleware-ensure-req-body-drained.ts
var drainBody = /* @__PURE__ */ __name(async (request, env, _ctx, middlewareCtx) => {
  try {
    return await middlewareCtx.next(request, env);
  } finally {
    try {
      if (request.body !== null && !request.bodyUsed) {
        const reader = request.body.getReader();
        while (!(await reader.read()).done) {
        }
      }
    } catch (e) {
      console.error("Failed to drain the unused request body.", e);
    }
  }
}, "drainBody");
var middleware_ensure_req_body_drained_default = drainBody;

// ../node_modules/wrangler/templates/middleware/middleware-miniflare3-json-error.ts
function reduceError(e) {
  return {
    name: e?.name,
    message: e?.message ?? String(e),
    stack: e?.stack,
    cause: e?.cause === void 0 ? void 0 : reduceError(e.cause)
  };
}
__name(reduceError, "reduceError");
var jsonError = /* @__PURE__ */ __name(async (request, env, _ctx, middlewareCtx) => {
  try {
    return await middlewareCtx.next(request, env);
  } catch (e) {
    const error = reduceError(e);
    return Response.json(error, {
      status: 500,
      headers: { "MF-Experimental-Error-Stack": "true" }
    });
  }
}, "jsonError");
var middleware_miniflare3_json_error_default = jsonError;

// wrangler-config:config:middleware/patch-console-prefix
var prefix = "[docpipe-summarizer]";

// ../node_modules/wrangler/templates/middleware/middleware-patch-console-prefix.ts
["log", "debug", "info"].forEach((method) => {
  globalThis.console[method] = new Proxy(globalThis.console[method], {
    apply(target, thisArg, argumentsList) {
      return target.apply(thisArg, [prefix, ...argumentsList]);
    }
  });
});
var passthrough = /* @__PURE__ */ __name((request, env, _ctx, middlewareCtx) => {
  return middlewareCtx.next(request, env);
}, "passthrough");
var middleware_patch_console_prefix_default = passthrough;

// .wrangler/tmp/bundle-93wueY/middleware-insertion-facade.js
var __INTERNAL_WRANGLER_MIDDLEWARE__ = [
  middleware_ensure_req_body_drained_default,
  middleware_miniflare3_json_error_default,
  middleware_patch_console_prefix_default
];
var middleware_insertion_facade_default = It;

// ../node_modules/wrangler/templates/middleware/common.ts
var __facade_middleware__ = [];
function __facade_register__(...args) {
  __facade_middleware__.push(...args.flat());
}
__name(__facade_register__, "__facade_register__");
function __facade_invokeChain__(request, env, ctx, dispatch, middlewareChain) {
  const [head, ...tail] = middlewareChain;
  const middlewareCtx = {
    dispatch,
    next(newRequest, newEnv) {
      return __facade_invokeChain__(newRequest, newEnv, ctx, dispatch, tail);
    }
  };
  return head(request, env, ctx, middlewareCtx);
}
__name(__facade_invokeChain__, "__facade_invokeChain__");
function __facade_invoke__(request, env, ctx, dispatch, finalMiddleware) {
  return __facade_invokeChain__(request, env, ctx, dispatch, [
    ...__facade_middleware__,
    finalMiddleware
  ]);
}
__name(__facade_invoke__, "__facade_invoke__");

// .wrangler/tmp/bundle-93wueY/middleware-loader.entry.ts
var __Facade_ScheduledController__ = class ___Facade_ScheduledController__ {
  constructor(scheduledTime, cron, noRetry) {
    this.scheduledTime = scheduledTime;
    this.cron = cron;
    this.#noRetry = noRetry;
  }
  static {
    __name(this, "__Facade_ScheduledController__");
  }
  #noRetry;
  noRetry() {
    if (!(this instanceof ___Facade_ScheduledController__)) {
      throw new TypeError("Illegal invocation");
    }
    this.#noRetry();
  }
};
function wrapExportedHandler(worker) {
  if (__INTERNAL_WRANGLER_MIDDLEWARE__ === void 0 || __INTERNAL_WRANGLER_MIDDLEWARE__.length === 0) {
    return worker;
  }
  for (const middleware of __INTERNAL_WRANGLER_MIDDLEWARE__) {
    __facade_register__(middleware);
  }
  const fetchDispatcher = /* @__PURE__ */ __name(function(request, env, ctx) {
    if (worker.fetch === void 0) {
      throw new Error("Handler does not export a fetch() function.");
    }
    return worker.fetch(request, env, ctx);
  }, "fetchDispatcher");
  return {
    ...worker,
    fetch(request, env, ctx) {
      const dispatcher = /* @__PURE__ */ __name(function(type, init) {
        if (type === "scheduled" && worker.scheduled !== void 0) {
          const controller = new __Facade_ScheduledController__(
            Date.now(),
            init.cron ?? "",
            () => {
            }
          );
          return worker.scheduled(controller, env, ctx);
        }
      }, "dispatcher");
      return __facade_invoke__(request, env, ctx, dispatcher, fetchDispatcher);
    }
  };
}
__name(wrapExportedHandler, "wrapExportedHandler");
function wrapWorkerEntrypoint(klass) {
  if (__INTERNAL_WRANGLER_MIDDLEWARE__ === void 0 || __INTERNAL_WRANGLER_MIDDLEWARE__.length === 0) {
    return klass;
  }
  for (const middleware of __INTERNAL_WRANGLER_MIDDLEWARE__) {
    __facade_register__(middleware);
  }
  return class extends klass {
    #fetchDispatcher = /* @__PURE__ */ __name((request, env, ctx) => {
      this.env = env;
      this.ctx = ctx;
      if (super.fetch === void 0) {
        throw new Error("Entrypoint class does not define a fetch() function.");
      }
      return super.fetch(request);
    }, "#fetchDispatcher");
    #dispatcher = /* @__PURE__ */ __name((type, init) => {
      if (type === "scheduled" && super.scheduled !== void 0) {
        const controller = new __Facade_ScheduledController__(
          Date.now(),
          init.cron ?? "",
          () => {
          }
        );
        return super.scheduled(controller);
      }
    }, "#dispatcher");
    fetch(request) {
      return __facade_invoke__(
        request,
        this.env,
        this.ctx,
        this.#dispatcher,
        this.#fetchDispatcher
      );
    }
  };
}
__name(wrapWorkerEntrypoint, "wrapWorkerEntrypoint");
var WRAPPED_ENTRY;
if (typeof middleware_insertion_facade_default === "object") {
  WRAPPED_ENTRY = wrapExportedHandler(middleware_insertion_facade_default);
} else if (typeof middleware_insertion_facade_default === "function") {
  WRAPPED_ENTRY = wrapWorkerEntrypoint(middleware_insertion_facade_default);
}
var middleware_loader_entry_default = WRAPPED_ENTRY;
export {
  Et as ContainerStartupOptions,
  xt as MinifyConfig,
  jt as R2Range,
  __INTERNAL_WRANGLER_MIDDLEWARE__,
  middleware_loader_entry_default as default
};
//# sourceMappingURL=index.js.map
