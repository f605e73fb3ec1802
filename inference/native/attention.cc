// Causal attention of one forward step on the CPU, fused: scores, softmax and the weighted sum of values are formed
// tile by tile in registers and L1 (online softmax), never as a [heads, T, S] matrix in memory, and no score after a
// query's own key is computed. ONNX Runtime's Attention kernel computes and stores every score of the step's [T, S]
// matrix (see docs/DESIGN.md, "Native attention kernel").
//
//   q [T, H·D] (un-rotated) ─► rotate (cos, sin) · 1/√D ─┐
//   k [S, KVH·D] (rotated) ─► kᵀ per kv head [D, S] ─────┼─► per (query head, block of R rows), per tile of 64 keys:
//   v [S, KVH·D] ────────────────────────────────────────┘     s = q·kᵀ (+ mask) → online softmax → o += p·v
//                                                             ─► out [T, H·D]
//
// Contract (the engine's AttentionSelection): query r of the step sees no key after S − T + r; keys after it are
// neither computed nor read. The optional additive mask [T, S] hides more (0 visible, −∞ hidden).
//
// Built with AVX-512F for x86-64; where the CPU lacks it, `supported()` is false and the engine keeps ONNX Runtime's
// Attention.
#include <node_api.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <condition_variable>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <type_traits>
#include <vector>

#if defined(__x86_64__)
#include <immintrin.h>
#define TOME_TARGET __attribute__((target("avx512f")))
#else
#define TOME_TARGET
#endif

namespace {

inline void Pause() {
#if defined(__x86_64__)
  _mm_pause();
#endif
}

constexpr int kKeysPerTile = 64;  // four 16-lane vectors of scores per row

struct Step {
  int T, S, H, KVH, D, rotaryDim;
  const float* q;
  const float* cos;  // [T, rotaryDim/2]
  const float* sin;
  const float* k;
  const float* v;
  const float* mask;  // [T, S] or null
  float* out;
  const float* keysT;  // [KVH][D][keyStride]
  int keyStride;
};

#if defined(__x86_64__)

// e^x for x ≤ 0 (scores minus their running maximum): 2^(x·log₂e) split into an integer power (scalef) and a
// degree-6 polynomial of the fraction in [-½, ½]; relative error ~1e-7. Below −87 (and −∞) the result is 0.
TOME_TARGET inline __m512 ExpNonPositive(__m512 x) {
  const __mmask16 underflow = _mm512_cmp_ps_mask(x, _mm512_set1_ps(-87.0f), _CMP_LT_OQ);
  const __m512 t = _mm512_mul_ps(_mm512_max_ps(x, _mm512_set1_ps(-87.0f)), _mm512_set1_ps(1.44269504088896341f));
  const __m512 n = _mm512_roundscale_ps(t, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  const __m512 f = _mm512_sub_ps(t, n);
  __m512 p = _mm512_set1_ps(1.535336188319500e-4f);
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.339887440266574e-3f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(9.618437357674640e-3f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(5.550332471162809e-2f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(2.402264791363012e-1f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(6.931472028550421e-1f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.0f));
  return _mm512_maskz_mov_ps(static_cast<__mmask16>(~underflow), _mm512_scalef_ps(p, n));
}

// Query `row` of head h as the scores need it: rotated by its cos/sin (Hugging Face's rotate_half layout: pairs
// (i, i + half) within the first rotaryDim dimensions) and scaled by 1/√D.
template <int D>
inline void PrepareQuery(const Step& step, int h, int row, float* target) {
  const int half = step.rotaryDim / 2;
  const float scale = 1.0f / std::sqrt(static_cast<float>(D));
  const float* source = step.q + static_cast<size_t>(row) * step.H * D + static_cast<size_t>(h) * D;
  const float* c = step.cos + static_cast<size_t>(row) * half;
  const float* s = step.sin + static_cast<size_t>(row) * half;
  for (int i = 0; i < half; i++) {
    target[i] = (source[i] * c[i] - source[i + half] * s[i]) * scale;
    target[i + half] = (source[i + half] * c[i] + source[i] * s[i]) * scale;
  }
  for (int d = step.rotaryDim; d < D; d++) target[d] = source[d] * scale;
}

// Rows [r0, r0+ROWS) of query head h. D/16 vectors per row of output accumulate in registers during each tile's p·v.
template <int D, int ROWS>
TOME_TARGET void AttendRows(const Step& step, int h, int r0) {
  constexpr int kVectors = D / 16;
  const int S = step.S, T = step.T;
  const int kvHead = h / (step.H / step.KVH);
  alignas(64) float q[ROWS][D];
  alignas(64) float o[ROWS][D];
  alignas(64) float p[ROWS][kKeysPerTile];
  float rowMax[ROWS];
  __m512 rowSum[ROWS];  // lane-wise partial sums, reduced once at the end
  for (int r = 0; r < ROWS; r++) {
    PrepareQuery<D>(step, h, r0 + r, q[r]);
    std::memset(o[r], 0, sizeof o[r]);
    rowMax[r] = -INFINITY;
    rowSum[r] = _mm512_setzero_ps();
  }
  const float* keysT = step.keysT + static_cast<size_t>(kvHead) * D * step.keyStride;
  const int keyEnd = S - T + r0 + ROWS;  // the block's last query sees keys [0, keyEnd)
  for (int tile = 0; tile < keyEnd; tile += kKeysPerTile) {
    // Scores of the tile: s[r][j] = q_r · k_(tile+j), 16 keys per vector.
    __m512 score[ROWS][4];
    for (int r = 0; r < ROWS; r++)
      for (int c = 0; c < 4; c++) score[r][c] = _mm512_setzero_ps();
    for (int d = 0; d < D; d++) {
      const float* keyRow = keysT + static_cast<size_t>(d) * step.keyStride + tile;
      const __m512 k0 = _mm512_loadu_ps(keyRow), k1 = _mm512_loadu_ps(keyRow + 16);
      const __m512 k2 = _mm512_loadu_ps(keyRow + 32), k3 = _mm512_loadu_ps(keyRow + 48);
      for (int r = 0; r < ROWS; r++) {
        const __m512 qd = _mm512_set1_ps(q[r][d]);
        score[r][0] = _mm512_fmadd_ps(qd, k0, score[r][0]);
        score[r][1] = _mm512_fmadd_ps(qd, k1, score[r][1]);
        score[r][2] = _mm512_fmadd_ps(qd, k2, score[r][2]);
        score[r][3] = _mm512_fmadd_ps(qd, k3, score[r][3]);
      }
    }
    const int tileEnd = std::min(tile + kKeysPerTile, keyEnd);
    for (int r = 0; r < ROWS; r++) {
      const int row = r0 + r;
      const int visibleEnd = std::min(S - T + row + 1, tileEnd);  // causal: keys [0, S − T + row] exist for row
      for (int c = 0; c < 4; c++) {
        const int first = tile + 16 * c;
        const int valid = visibleEnd - first;
        const __mmask16 keep = valid >= 16 ? 0xFFFF : valid <= 0 ? 0 : static_cast<__mmask16>((1u << valid) - 1);
        if (step.mask != nullptr && keep != 0) {
          const __m512 m = _mm512_maskz_loadu_ps(keep, step.mask + static_cast<size_t>(row) * S + first);
          score[r][c] = _mm512_add_ps(score[r][c], m);
        }
        score[r][c] = _mm512_mask_blend_ps(keep, _mm512_set1_ps(-INFINITY), score[r][c]);
      }
      const __m512 tileMax = _mm512_max_ps(_mm512_max_ps(score[r][0], score[r][1]), _mm512_max_ps(score[r][2], score[r][3]));
      const float newMax = std::max(rowMax[r], _mm512_reduce_max_ps(tileMax));
      if (newMax == -INFINITY) {  // nothing visible to this row yet
        for (int c = 0; c < 4; c++) _mm512_store_ps(&p[r][16 * c], _mm512_setzero_ps());
        continue;
      }
      const __m512 maxVector = _mm512_set1_ps(newMax);
      __m512 sum = _mm512_setzero_ps();
      for (int c = 0; c < 4; c++) {
        const __m512 e = ExpNonPositive(_mm512_sub_ps(score[r][c], maxVector));
        _mm512_store_ps(&p[r][16 * c], e);
        sum = _mm512_add_ps(sum, e);
      }
      if (newMax != rowMax[r]) {  // earlier tiles were weighed against a smaller maximum: scale them down
        const __m512 factor = ExpNonPositive(_mm512_set1_ps(rowMax[r] - newMax));
        rowSum[r] = _mm512_fmadd_ps(rowSum[r], factor, sum);
        for (int c = 0; c < kVectors; c++) _mm512_store_ps(&o[r][16 * c], _mm512_mul_ps(factor, _mm512_load_ps(&o[r][16 * c])));
      } else {
        rowSum[r] = _mm512_add_ps(rowSum[r], sum);
      }
      rowMax[r] = newMax;
    }
    // o += p · v over the tile's keys.
    __m512 acc[ROWS][kVectors];
    for (int r = 0; r < ROWS; r++)
      for (int c = 0; c < kVectors; c++) acc[r][c] = _mm512_load_ps(&o[r][16 * c]);
    const float* values = step.v + static_cast<size_t>(kvHead) * D;
    const size_t valueStride = static_cast<size_t>(step.KVH) * D;
    for (int j = tile; j < tileEnd; j++) {
      const float* valueRow = values + static_cast<size_t>(j) * valueStride;
      __m512 v[kVectors];
      for (int c = 0; c < kVectors; c++) v[c] = _mm512_loadu_ps(valueRow + 16 * c);
      for (int r = 0; r < ROWS; r++) {
        const __m512 weight = _mm512_set1_ps(p[r][j - tile]);
        for (int c = 0; c < kVectors; c++) acc[r][c] = _mm512_fmadd_ps(weight, v[c], acc[r][c]);
      }
    }
    for (int r = 0; r < ROWS; r++)
      for (int c = 0; c < kVectors; c++) _mm512_store_ps(&o[r][16 * c], acc[r][c]);
  }
  for (int r = 0; r < ROWS; r++) {
    const float total = _mm512_reduce_add_ps(rowSum[r]);
    const float inverse = total > 0.0f ? 1.0f / total : 0.0f;
    float* target = step.out + static_cast<size_t>(r0 + r) * step.H * D + static_cast<size_t>(h) * D;
    for (int d = 0; d < D; d++) target[d] = o[r][d] * inverse;
  }
}

// One query row of head h against row-major keys: the path for steps of a few queries (decode), where transposing
// every key would cost more than the scores themselves. Two passes over a row of scores instead of an online softmax.
template <int D>
TOME_TARGET void AttendRowDirect(const Step& step, int h, int row) {
  constexpr int kVectors = D / 16;
  thread_local std::vector<float> scores;  // per executing thread (pool workers have their own)
  const int kvHead = h / (step.H / step.KVH);
  const int visible = step.S - step.T + row + 1;
  if (scores.size() < static_cast<size_t>(visible) + 16) scores.resize(static_cast<size_t>(visible) + 16);
  alignas(64) float rotated[D];
  PrepareQuery<D>(step, h, row, rotated);
  __m512 q[kVectors];
  for (int v = 0; v < kVectors; v++) q[v] = _mm512_load_ps(rotated + 16 * v);
  const size_t keyStride = static_cast<size_t>(step.KVH) * D;
  const float* keys = step.k + static_cast<size_t>(kvHead) * D;
  const float* maskRow = step.mask ? step.mask + static_cast<size_t>(row) * step.S : nullptr;
  float rowMax = -INFINITY;
  for (int j = 0; j < visible; j++) {
    const float* key = keys + j * keyStride;
    __m512 acc = _mm512_mul_ps(q[0], _mm512_loadu_ps(key));
    for (int v = 1; v < kVectors; v++) acc = _mm512_fmadd_ps(q[v], _mm512_loadu_ps(key + 16 * v), acc);
    const float score = _mm512_reduce_add_ps(acc) + (maskRow ? maskRow[j] : 0.0f);
    scores[j] = score;
    rowMax = std::max(rowMax, score);
  }
  float* target = step.out + static_cast<size_t>(row) * step.H * D + static_cast<size_t>(h) * D;
  if (rowMax == -INFINITY) {
    std::fill_n(target, D, 0.0f);
    return;
  }
  std::fill(scores.begin() + visible, scores.begin() + visible + 16, -INFINITY);
  __m512 sum = _mm512_setzero_ps();
  const __m512 maxVector = _mm512_set1_ps(rowMax);
  for (int j = 0; j < visible; j += 16) {
    const __m512 e = ExpNonPositive(_mm512_sub_ps(_mm512_loadu_ps(&scores[j]), maxVector));
    _mm512_storeu_ps(&scores[j], e);
    sum = _mm512_add_ps(sum, e);
  }
  __m512 o[kVectors];
  for (int v = 0; v < kVectors; v++) o[v] = _mm512_setzero_ps();
  const float* values = step.v + static_cast<size_t>(kvHead) * D;
  for (int j = 0; j < visible; j++) {
    const __m512 weight = _mm512_set1_ps(scores[j]);
    const float* value = values + j * keyStride;
    for (int v = 0; v < kVectors; v++) o[v] = _mm512_fmadd_ps(weight, _mm512_loadu_ps(value + 16 * v), o[v]);
  }
  const __m512 inverse = _mm512_set1_ps(1.0f / _mm512_reduce_add_ps(sum));
  for (int v = 0; v < kVectors; v++) _mm512_storeu_ps(target + 16 * v, _mm512_mul_ps(o[v], inverse));
}

// Rows per block: as many as keep ROWS × D/16 output vectors plus the loaded values within 32 registers.
constexpr int BlockRows(int D) { return D <= 64 ? 6 : 3; }

template <int D>
TOME_TARGET void AttendBlock(const Step& step, int h, int r0, int rows) {
  switch (rows) {
    case 1: AttendRows<D, 1>(step, h, r0); break;
    case 2: AttendRows<D, 2>(step, h, r0); break;
    case 3: AttendRows<D, 3>(step, h, r0); break;
    case 4: if constexpr (BlockRows(D) >= 4) AttendRows<D, 4>(step, h, r0); break;
    case 5: if constexpr (BlockRows(D) >= 5) AttendRows<D, 5>(step, h, r0); break;
    case 6: if constexpr (BlockRows(D) >= 6) AttendRows<D, 6>(step, h, r0); break;
  }
}

// Calls f(std::integral_constant<int, D>) for the step's head size: the kernels are compiled per head size.
template <typename F>
void WithHeadDim(int D, F&& f) {
  switch (D) {
    case 16: f(std::integral_constant<int, 16>{}); break;
    case 32: f(std::integral_constant<int, 32>{}); break;
    case 64: f(std::integral_constant<int, 64>{}); break;
    default: f(std::integral_constant<int, 128>{}); break;
  }
}

TOME_TARGET void TransposeKeys(const Step& step, int kvHead, float* target) {
  const int rowStride = step.KVH * step.D;
  const __m512i rows = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), _mm512_set1_epi32(rowStride));
  int j = 0;
  // 16 keys at a time: one gather per dimension (a key's dimensions are contiguous, kᵀ wants keys contiguous).
  for (; j + 16 <= step.S; j += 16) {
    const float* source = step.k + static_cast<size_t>(j) * rowStride + static_cast<size_t>(kvHead) * step.D;
    for (int d = 0; d < step.D; d++) _mm512_storeu_ps(target + static_cast<size_t>(d) * step.keyStride + j, _mm512_i32gather_ps(rows, source + d, 4));
  }
  for (; j < step.S; j++) {
    const float* source = step.k + static_cast<size_t>(j) * rowStride + static_cast<size_t>(kvHead) * step.D;
    for (int d = 0; d < step.D; d++) target[static_cast<size_t>(d) * step.keyStride + j] = source[d];
  }
  // The last tile reads up to 63 keys past S: zeros (never visible, but must not be NaN).
  for (int d = 0; d < step.D; d++) std::fill_n(target + static_cast<size_t>(d) * step.keyStride + step.S, step.keyStride - step.S, 0.0f);
}

bool CpuSupported() { return __builtin_cpu_supports("avx512f"); }

#else
bool CpuSupported() { return false; }
#endif

// A small pool: the calling thread plus `threads − 1` workers that spin briefly for the next job, then sleep (they
// must not hold a core while ONNX Runtime runs the rest of the layer).
class Pool {
 public:
  explicit Pool(int workers) {
    for (int index = 0; index < workers; index++) threads_.emplace_back([this, index] { Loop(index + 1); });
  }
  ~Pool() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
      generation_.fetch_add(1);
    }
    wake_.notify_all();
    for (auto& thread : threads_) thread.join();
  }
  int size() const { return static_cast<int>(threads_.size()) + 1; }
  // Runs job(threadIndex) on every thread of the pool and returns when all are done.
  void Run(const std::function<void(int)>& job) {
    if (threads_.empty()) return job(0);
    job_ = &job;
    pending_.store(static_cast<int>(threads_.size()));
    {
      std::lock_guard<std::mutex> lock(mutex_);
      generation_.fetch_add(1, std::memory_order_release);
    }
    wake_.notify_all();
    job(0);
    while (pending_.load(std::memory_order_acquire) != 0) Pause();
  }

 private:
  void Loop(int index) {
    unsigned seen = 0;
    for (;;) {
      // Spin only a few microseconds, then sleep: between calls ONNX Runtime runs the rest of the layer on these
      // cores, and a thread spinning through that (~60 µs of spinning was measured) slowed its MatMuls by ~15%.
      for (int spin = 0; spin < 200 && generation_.load(std::memory_order_acquire) == seen; spin++) Pause();
      if (generation_.load(std::memory_order_acquire) == seen) {
        std::unique_lock<std::mutex> lock(mutex_);
        wake_.wait(lock, [&] { return generation_.load() != seen; });
      }
      seen = generation_.load(std::memory_order_acquire);
      if (stopping_) return;
      (*job_)(index);
      pending_.fetch_sub(1, std::memory_order_acq_rel);
    }
  }
  std::vector<std::thread> threads_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::atomic<unsigned> generation_{0};
  std::atomic<int> pending_{0};
  const std::function<void(int)>* job_ = nullptr;
  bool stopping_ = false;
};

// Per Node environment (the main thread and every worker thread load their own): the pool and the kᵀ buffer.
struct Instance {
  std::unique_ptr<Pool> pool;
  std::vector<float> keysT;
};

#if defined(__x86_64__)
// Below this many visible scores per call (a decode step over a short context) waking a worker costs more than it saves.
constexpr double kParallelMinScores = 131072;
// Steps of fewer queries take the row-major path (AttendRowDirect), which needs no kᵀ.
constexpr int kDirectMaxQueries = 8;

void Attend(Instance& instance, Step& step, int threads) {
  const double scores = static_cast<double>(step.H) * step.T * (step.S - step.T / 2.0);
  const bool parallel = threads > 1 && scores >= kParallelMinScores;
  if (parallel && (!instance.pool || instance.pool->size() != threads)) instance.pool = std::make_unique<Pool>(threads - 1);
  if (step.T < kDirectMaxQueries) {
    std::atomic<int> nextRow{0};
    const int rowTasks = step.T * step.H;
    const auto attendRows = [&](int) {
      for (int task; (task = nextRow.fetch_add(1)) < rowTasks;) {
        const int head = task % step.H, row = task / step.H;
        WithHeadDim(step.D, [&](auto dim) { AttendRowDirect<decltype(dim)::value>(step, head, row); });
      }
    };
    if (parallel) instance.pool->Run(attendRows);
    else attendRows(0);
    return;
  }
  // kᵀ rows padded past a multiple of 4 KB: rows 4 KB apart map to the same L1 sets and evict each other.
  int stride = (step.S + 15) / 16 * 16 + 64;
  if ((stride * 4) % 4096 == 0) stride += 16;
  step.keyStride = stride;
  const size_t perHead = static_cast<size_t>(step.D) * stride;
  if (instance.keysT.size() < perHead * step.KVH) instance.keysT.resize(perHead * step.KVH);
  step.keysT = instance.keysT.data();
  const int rowsPerBlock = BlockRows(step.D);
  const int blocks = (step.T + rowsPerBlock - 1) / rowsPerBlock;
  const int tasks = blocks * step.H;
  // One queue: the kv heads' transposes first, then (query head, block of rows) tasks, longest blocks (last rows, most
  // keys) first so the threads finish together. A task whose kv head is still being transposed waits for it.
  std::atomic<int> nextTask{0};
  std::vector<std::atomic<bool>> transposed(step.KVH);
  for (auto& flag : transposed) flag.store(false, std::memory_order_relaxed);
  const int groupSize = step.H / step.KVH;
  const auto attend = [&](int) {
    for (int task; (task = nextTask.fetch_add(1)) < step.KVH + tasks;) {
      if (task < step.KVH) {
        TransposeKeys(step, task, instance.keysT.data() + perHead * task);
        transposed[task].store(true, std::memory_order_release);
        continue;
      }
      task -= step.KVH;
      const int block = blocks - 1 - task / step.H;
      const int head = task % step.H;
      while (!transposed[head / groupSize].load(std::memory_order_acquire)) Pause();
      const int r0 = block * rowsPerBlock;
      const int rows = std::min(rowsPerBlock, step.T - r0);
      WithHeadDim(step.D, [&](auto dim) { AttendBlock<decltype(dim)::value>(step, head, r0, rows); });
    }
  };
  if (parallel) instance.pool->Run(attend);
  else attend(0);
}
#endif

// ---- Node-API binding ----

napi_value Throw(napi_env env, const char* message) {
  napi_throw_error(env, "TOME_NATIVE_ATTENTION", message);
  return nullptr;
}

bool FloatArray(napi_env env, napi_value value, float** data, size_t* length) {
  bool isTypedArray = false;
  if (napi_is_typedarray(env, value, &isTypedArray) != napi_ok || !isTypedArray) return false;
  napi_typedarray_type type;
  napi_value buffer;
  size_t offset;
  void* raw;
  if (napi_get_typedarray_info(env, value, &type, length, &raw, &buffer, &offset) != napi_ok || type != napi_float32_array) return false;
  *data = static_cast<float*>(raw);
  return true;
}

// attend(q, cos, sin, k, v, mask | null, out, [T, S, H, KVH, D, rotaryDim, threads])
napi_value AttendBinding(napi_env env, napi_callback_info info) {
  size_t argc = 8;
  napi_value argv[8];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  if (argc != 8) return Throw(env, "attend expects 8 arguments");
  int32_t shape[7];
  for (int index = 0; index < 7; index++) {
    napi_value element;
    if (napi_get_element(env, argv[7], index, &element) != napi_ok || napi_get_value_int32(env, element, &shape[index]) != napi_ok) return Throw(env, "shape must be [T, S, H, KVH, D, rotaryDim, threads]");
  }
  const auto [T, S, H, KVH, D, rotaryDim, threads] = shape;
  if (T < 1 || S < T || H < 1 || KVH < 1 || H % KVH != 0 || (D != 16 && D != 32 && D != 64 && D != 128) || rotaryDim < 0 || rotaryDim > D || rotaryDim % 2 != 0 || threads < 1) return Throw(env, "unsupported attention shape");
  float *q, *cos, *sin, *k, *v, *mask = nullptr, *out;
  size_t qLength, cosLength, sinLength, kLength, vLength, maskLength = 0, outLength;
  napi_valuetype maskType;
  napi_typeof(env, argv[5], &maskType);
  if (!FloatArray(env, argv[0], &q, &qLength) || !FloatArray(env, argv[1], &cos, &cosLength) || !FloatArray(env, argv[2], &sin, &sinLength) ||
      !FloatArray(env, argv[3], &k, &kLength) || !FloatArray(env, argv[4], &v, &vLength) || !FloatArray(env, argv[6], &out, &outLength) ||
      (maskType != napi_null && !FloatArray(env, argv[5], &mask, &maskLength))) {
    return Throw(env, "q, cos, sin, k, v, out must be Float32Arrays and mask a Float32Array or null");
  }
  const size_t queryFloats = static_cast<size_t>(T) * H * D, keyFloats = static_cast<size_t>(S) * KVH * D, tableFloats = static_cast<size_t>(T) * (rotaryDim / 2);
  if (qLength < queryFloats || outLength < queryFloats || kLength < keyFloats || vLength < keyFloats || cosLength < tableFloats || sinLength < tableFloats ||
      (mask != nullptr && maskLength < static_cast<size_t>(T) * S)) {
    return Throw(env, "an input is shorter than its shape");
  }
#if defined(__x86_64__)
  Instance* instance = nullptr;
  napi_get_instance_data(env, reinterpret_cast<void**>(&instance));
  Step step{T, S, H, KVH, D, rotaryDim, q, cos, sin, k, v, mask, out, nullptr, 0};
  Attend(*instance, step, threads);
  return nullptr;
#else
  return Throw(env, "native attention is built for x86-64 only");
#endif
}

napi_value SupportedBinding(napi_env env, napi_callback_info) {
  napi_value result;
  napi_get_boolean(env, CpuSupported(), &result);
  return result;
}

}  // namespace

NAPI_MODULE_INIT() {
  auto* instance = new Instance();
  napi_set_instance_data(env, instance, [](napi_env, void* data, void*) { delete static_cast<Instance*>(data); }, nullptr);
  napi_property_descriptor properties[] = {
      {"attend", nullptr, AttendBinding, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"supported", nullptr, SupportedBinding, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  napi_define_properties(env, exports, 2, properties);
  return exports;
}
