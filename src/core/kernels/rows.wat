;; The arithmetic of a long input's attention rows (src/core/queryKeys.ts, `weightRows`), in
;; WebAssembly with 128-bit SIMD: two float64 lanes, so every product and sum stays in double
;; precision as the JavaScript it replaces did. `npm run build:kernels` compiles this file into
;; rowsWasm.ts; test/unit/rowKernel.test.ts checks that the two agree.
;;
;; Every pointer is a byte offset into the module's memory, which rowKernel.ts lays out.
(module
  (memory (export "memory") 1)

  ;; The dot products of the queries at $q0 and $q1 with keys $start…$end − 1 of the keys at $k
  ;; ($dp float64 values each, one key after another; $dp even), into $s0[j] and $s1[j]. Two
  ;; queries go against four keys at a time, so each vector loaded serves several products.
  (func (export "dots") (param $q0 i32) (param $q1 i32) (param $k i32) (param $dp i32)
        (param $start i32) (param $end i32) (param $s0 i32) (param $s1 i32)
    (local $j i32) (local $x i32) (local $at i32) (local $stride i32)
    (local $ka i32) (local $kb i32) (local $kc i32) (local $ke i32)
    (local $v0 v128) (local $v1 v128) (local $a v128) (local $b v128) (local $c v128) (local $e v128)
    (local $a0 v128) (local $b0 v128) (local $c0 v128) (local $e0 v128)
    (local $a1 v128) (local $b1 v128) (local $c1 v128) (local $e1 v128)
    (local.set $stride (i32.shl (local.get $dp) (i32.const 3)))
    (local.set $j (local.get $start))
    (block $fours
      (loop $four
        (br_if $fours (i32.gt_s (i32.add (local.get $j) (i32.const 4)) (local.get $end)))
        (local.set $ka (i32.add (local.get $k) (i32.mul (local.get $j) (local.get $stride))))
        (local.set $kb (i32.add (local.get $ka) (local.get $stride)))
        (local.set $kc (i32.add (local.get $kb) (local.get $stride)))
        (local.set $ke (i32.add (local.get $kc) (local.get $stride)))
        (local.set $a0 (v128.const f64x2 0 0)) (local.set $b0 (v128.const f64x2 0 0))
        (local.set $c0 (v128.const f64x2 0 0)) (local.set $e0 (v128.const f64x2 0 0))
        (local.set $a1 (v128.const f64x2 0 0)) (local.set $b1 (v128.const f64x2 0 0))
        (local.set $c1 (v128.const f64x2 0 0)) (local.set $e1 (v128.const f64x2 0 0))
        (local.set $x (i32.const 0))
        (loop $dim
          (local.set $v0 (v128.load (i32.add (local.get $q0) (local.get $x))))
          (local.set $v1 (v128.load (i32.add (local.get $q1) (local.get $x))))
          (local.set $a (v128.load (i32.add (local.get $ka) (local.get $x))))
          (local.set $b (v128.load (i32.add (local.get $kb) (local.get $x))))
          (local.set $c (v128.load (i32.add (local.get $kc) (local.get $x))))
          (local.set $e (v128.load (i32.add (local.get $ke) (local.get $x))))
          (local.set $a0 (f64x2.add (local.get $a0) (f64x2.mul (local.get $v0) (local.get $a))))
          (local.set $b0 (f64x2.add (local.get $b0) (f64x2.mul (local.get $v0) (local.get $b))))
          (local.set $c0 (f64x2.add (local.get $c0) (f64x2.mul (local.get $v0) (local.get $c))))
          (local.set $e0 (f64x2.add (local.get $e0) (f64x2.mul (local.get $v0) (local.get $e))))
          (local.set $a1 (f64x2.add (local.get $a1) (f64x2.mul (local.get $v1) (local.get $a))))
          (local.set $b1 (f64x2.add (local.get $b1) (f64x2.mul (local.get $v1) (local.get $b))))
          (local.set $c1 (f64x2.add (local.get $c1) (f64x2.mul (local.get $v1) (local.get $c))))
          (local.set $e1 (f64x2.add (local.get $e1) (f64x2.mul (local.get $v1) (local.get $e))))
          (local.set $x (i32.add (local.get $x) (i32.const 16)))
          (br_if $dim (i32.lt_u (local.get $x) (local.get $stride))))
        (local.set $at (i32.add (local.get $s0) (i32.shl (local.get $j) (i32.const 3))))
        (f64.store (local.get $at) (call $sum (local.get $a0)))
        (f64.store offset=8 (local.get $at) (call $sum (local.get $b0)))
        (f64.store offset=16 (local.get $at) (call $sum (local.get $c0)))
        (f64.store offset=24 (local.get $at) (call $sum (local.get $e0)))
        (local.set $at (i32.add (local.get $s1) (i32.shl (local.get $j) (i32.const 3))))
        (f64.store (local.get $at) (call $sum (local.get $a1)))
        (f64.store offset=8 (local.get $at) (call $sum (local.get $b1)))
        (f64.store offset=16 (local.get $at) (call $sum (local.get $c1)))
        (f64.store offset=24 (local.get $at) (call $sum (local.get $e1)))
        (local.set $j (i32.add (local.get $j) (i32.const 4)))
        (br $four)))
    (block $ones
      (loop $one
        (br_if $ones (i32.ge_s (local.get $j) (local.get $end)))
        (local.set $ka (i32.add (local.get $k) (i32.mul (local.get $j) (local.get $stride))))
        (local.set $a0 (v128.const f64x2 0 0))
        (local.set $a1 (v128.const f64x2 0 0))
        (local.set $x (i32.const 0))
        (loop $dim1
          (local.set $a (v128.load (i32.add (local.get $ka) (local.get $x))))
          (local.set $a0 (f64x2.add (local.get $a0) (f64x2.mul (v128.load (i32.add (local.get $q0) (local.get $x))) (local.get $a))))
          (local.set $a1 (f64x2.add (local.get $a1) (f64x2.mul (v128.load (i32.add (local.get $q1) (local.get $x))) (local.get $a))))
          (local.set $x (i32.add (local.get $x) (i32.const 16)))
          (br_if $dim1 (i32.lt_u (local.get $x) (local.get $stride))))
        (f64.store (i32.add (local.get $s0) (i32.shl (local.get $j) (i32.const 3))) (call $sum (local.get $a0)))
        (f64.store (i32.add (local.get $s1) (i32.shl (local.get $j) (i32.const 3))) (call $sum (local.get $a1)))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br $one))))

  (func $sum (param $v v128) (result f64)
    (f64.add (f64x2.extract_lane 0 (local.get $v)) (f64x2.extract_lane 1 (local.get $v))))

  ;; exp(x) for x in [−708, 0] in both lanes, within one unit in the last place of Math.exp
;; (measured at 2,000,001 points over the range: 2.2e−16 relative at worst): x = k·ln 2 + r
  ;; with |r| ≤ ln 2 / 2 (ln 2 in two parts, fdlibm's, so k·ln2hi is exact), e^r by its Taylor
  ;; series to r¹³/13! (the rest is below 4e−18 of it), times 2^k built in the exponent's bits.
  (func $exp (param $x v128) (result v128)
    (local $k v128) (local $r v128) (local $p v128)
    (local.set $k (f64x2.nearest (f64x2.mul (local.get $x) (v128.const f64x2 1.4426950408889634 1.4426950408889634))))
    (local.set $r (f64x2.sub (f64x2.sub (local.get $x)
        (f64x2.mul (local.get $k) (v128.const f64x2 6.93147180369123816490e-01 6.93147180369123816490e-01)))
        (f64x2.mul (local.get $k) (v128.const f64x2 1.90821492927058770002e-10 1.90821492927058770002e-10))))
    (local.set $p (v128.const f64x2 1.6059043836821613e-10 1.6059043836821613e-10))
    (local.set $p (f64x2.add (f64x2.mul (local.get $p) (local.get $r)) (v128.const f64x2 2.08767569878681e-09 2.08767569878681e-09)))
    (local.set $p (f64x2.add (f64x2.mul (local.get $p) (local.get $r)) (v128.const f64x2 2.505210838544172e-08 2.505210838544172e-08)))
    (local.set $p (f64x2.add (f64x2.mul (local.get $p) (local.get $r)) (v128.const f64x2 2.755731922398589e-07 2.755731922398589e-07)))
    (local.set $p (f64x2.add (f64x2.mul (local.get $p) (local.get $r)) (v128.const f64x2 2.7557319223985893e-06 2.7557319223985893e-06)))
    (local.set $p (f64x2.add (f64x2.mul (local.get $p) (local.get $r)) (v128.const f64x2 2.48015873015873e-05 2.48015873015873e-05)))
    (local.set $p (f64x2.add (f64x2.mul (local.get $p) (local.get $r)) (v128.const f64x2 1.984126984126984e-04 1.984126984126984e-04)))
    (local.set $p (f64x2.add (f64x2.mul (local.get $p) (local.get $r)) (v128.const f64x2 1.3888888888888889e-03 1.3888888888888889e-03)))
    (local.set $p (f64x2.add (f64x2.mul (local.get $p) (local.get $r)) (v128.const f64x2 8.333333333333333e-03 8.333333333333333e-03)))
    (local.set $p (f64x2.add (f64x2.mul (local.get $p) (local.get $r)) (v128.const f64x2 4.1666666666666664e-02 4.1666666666666664e-02)))
    (local.set $p (f64x2.add (f64x2.mul (local.get $p) (local.get $r)) (v128.const f64x2 1.6666666666666666e-01 1.6666666666666666e-01)))
    (local.set $p (f64x2.add (f64x2.mul (local.get $p) (local.get $r)) (v128.const f64x2 0.5 0.5)))
    (local.set $p (f64x2.add (f64x2.mul (local.get $p) (local.get $r)) (v128.const f64x2 1 1)))
    (local.set $p (f64x2.add (f64x2.mul (local.get $p) (local.get $r)) (v128.const f64x2 1 1)))
    ;; 2^k: (k + 1023) << 52 as the bits of a double (k ≥ −1022 for x ≥ −708)
    (f64x2.mul (local.get $p)
      (i64x2.shl (i64x2.add (i64x2.extend_low_i32x4_s (i32x4.trunc_sat_f64x2_s_zero (local.get $k))) (v128.const i64x2 1023 1023)) (i32.const 52))))

  ;; Softmax of one row: the scores scale·$s[j] (plus $bias[j] where $bias is not −1) for keys
  ;; $first…$last (−∞ for a key not seen), written as float32 into $out[j]; $s is overwritten.
  ;; Returns the largest score: −∞ when every key is masked, and then nothing is written.
  (func (export "softmax") (param $s i32) (param $first i32) (param $last i32) (param $scale f64) (param $bias i32) (param $out i32) (result f64)
    (local $j i32) (local $at i32) (local $end i32) (local $max f64) (local $sum f64)
    (local $v v128) (local $m v128) (local $acc v128) (local $low v128)
    (local.set $end (i32.add (local.get $last) (i32.const 1)))
    ;; pass 1: scale, add the bias, and the largest
    (local.set $max (f64.const -inf))
    (local.set $m (v128.const f64x2 -inf -inf))
    (local.set $j (local.get $first))
    (block $done
      (loop $pairs
        (br_if $done (i32.gt_s (i32.add (local.get $j) (i32.const 2)) (local.get $end)))
        (local.set $at (i32.add (local.get $s) (i32.shl (local.get $j) (i32.const 3))))
        (local.set $v (f64x2.mul (v128.load (local.get $at)) (f64x2.splat (local.get $scale))))
        (if (i32.ge_s (local.get $bias) (i32.const 0))
          (then (local.set $v (f64x2.add (local.get $v) (v128.load (i32.add (local.get $bias) (i32.shl (local.get $j) (i32.const 3))))))))
        (v128.store (local.get $at) (local.get $v))
        (local.set $m (f64x2.max (local.get $m) (local.get $v)))
        (local.set $j (i32.add (local.get $j) (i32.const 2)))
        (br $pairs)))
    (if (i32.lt_s (local.get $j) (local.get $end))
      (then
        (local.set $at (i32.add (local.get $s) (i32.shl (local.get $j) (i32.const 3))))
        (f64.store (local.get $at) (f64.mul (f64.load (local.get $at)) (local.get $scale)))
        (if (i32.ge_s (local.get $bias) (i32.const 0))
          (then (f64.store (local.get $at) (f64.add (f64.load (local.get $at)) (f64.load (i32.add (local.get $bias) (i32.shl (local.get $j) (i32.const 3))))))))
        (local.set $max (f64.load (local.get $at)))))
    (local.set $max (f64.max (local.get $max) (f64.max (f64x2.extract_lane 0 (local.get $m)) (f64x2.extract_lane 1 (local.get $m)))))
    (if (f64.eq (local.get $max) (f64.const -inf)) (then (return (local.get $max))))
    ;; pass 2: e^(score − largest), clamped below at −708 (a masked key's e^−708 ≈ 3e−308 is
    ;; nothing against a sum of at least 1, and 0 once written as float32), and their sum
    (local.set $m (f64x2.splat (local.get $max)))
    (local.set $acc (v128.const f64x2 0 0))
    (local.set $j (local.get $first))
    (block $done
      (loop $pairs
        (br_if $done (i32.gt_s (i32.add (local.get $j) (i32.const 2)) (local.get $end)))
        (local.set $at (i32.add (local.get $s) (i32.shl (local.get $j) (i32.const 3))))
        (local.set $v (call $exp (f64x2.max (f64x2.sub (v128.load (local.get $at)) (local.get $m)) (v128.const f64x2 -708 -708))))
        (v128.store (local.get $at) (local.get $v))
        (local.set $acc (f64x2.add (local.get $acc) (local.get $v)))
        (local.set $j (i32.add (local.get $j) (i32.const 2)))
        (br $pairs)))
    (local.set $sum (call $sum (local.get $acc)))
    (if (i32.lt_s (local.get $j) (local.get $end))
      (then
        (local.set $at (i32.add (local.get $s) (i32.shl (local.get $j) (i32.const 3))))
        (local.set $low (call $exp (f64x2.max (f64x2.splat (f64.sub (f64.load (local.get $at)) (local.get $max))) (v128.const f64x2 -708 -708))))
        (f64.store (local.get $at) (f64x2.extract_lane 0 (local.get $low)))
        (local.set $sum (f64.add (local.get $sum) (f64x2.extract_lane 0 (local.get $low))))))
    ;; pass 3: each over the sum, as float32
    (local.set $v (f64x2.splat (local.get $sum)))
    (local.set $j (local.get $first))
    (block $done
      (loop $pairs
        (br_if $done (i32.gt_s (i32.add (local.get $j) (i32.const 2)) (local.get $end)))
        (v128.store64_lane 0 (i32.add (local.get $out) (i32.shl (local.get $j) (i32.const 2)))
          (f32x4.demote_f64x2_zero (f64x2.div (v128.load (i32.add (local.get $s) (i32.shl (local.get $j) (i32.const 3)))) (local.get $v))))
        (local.set $j (i32.add (local.get $j) (i32.const 2)))
        (br $pairs)))
    (if (i32.lt_s (local.get $j) (local.get $end))
      (then
        (f32.store (i32.add (local.get $out) (i32.shl (local.get $j) (i32.const 2)))
          (f32.demote_f64 (f64.div (f64.load (i32.add (local.get $s) (i32.shl (local.get $j) (i32.const 3)))) (local.get $sum))))))
    (local.get $max))
)
