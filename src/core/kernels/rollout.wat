;; The product of a long input's rollout (src/core/analysis/aggregate.ts, `rolloutStep`): four rows
;; of a layer's Ã (float64) times the rollout before it (float32), in WebAssembly with 128-bit SIMD.
;; Each element is summed over j in order, v·x then +, in float64 as the JavaScript loop it
;; replaces did, so the results have the same bits; the four rows' sums for four keys stay in
;; registers while j runs, and each value of the previous rollout read serves all four rows.
;; `npm run build:kernels` compiles this file into rolloutWasm.ts; test/unit/rowKernel.test.ts
;; checks that the two agree. Every pointer is a byte offset into the module's memory, which
;; aggregate.ts lays out.
(module
  (memory (export "memory") 1)

  ;; Rows $out (4 rows of $np float32, one after another) = rows $t (4 rows of $np float64) times
  ;; the rows at $b ($np float32 each; row j is 0 from key $ends[j] on, an i32 each), for keys
  ;; 0…$reach − 1 in fours ($reach and $np multiples of 4) and j from $starts[k / 4] (an i32 each:
  ;; no row before it reaches key k) to $last. A row j that is 0 at these four keys is skipped:
  ;; adding 0 leaves a sum as it is.
  (func (export "product") (param $t i32) (param $b i32) (param $ends i32) (param $starts i32)
        (param $np i32) (param $last i32) (param $reach i32) (param $out i32)
    (local $k i32) (local $j i32) (local $rowBytes i32) (local $tRow i32) (local $at i32)
    (local $x v128) (local $lo v128) (local $hi v128) (local $v v128)
    (local $a0 v128) (local $a1 v128) (local $b0 v128) (local $b1 v128)
    (local $c0 v128) (local $c1 v128) (local $e0 v128) (local $e1 v128)
    (local.set $rowBytes (i32.shl (local.get $np) (i32.const 2)))
    (local.set $tRow (i32.shl (local.get $np) (i32.const 3)))
    (local.set $k (i32.const 0))
    (block $keysDone
      (loop $keys
        (br_if $keysDone (i32.ge_u (local.get $k) (local.get $reach)))
        (local.set $a0 (v128.const f64x2 0 0)) (local.set $a1 (v128.const f64x2 0 0))
        (local.set $b0 (v128.const f64x2 0 0)) (local.set $b1 (v128.const f64x2 0 0))
        (local.set $c0 (v128.const f64x2 0 0)) (local.set $c1 (v128.const f64x2 0 0))
        (local.set $e0 (v128.const f64x2 0 0)) (local.set $e1 (v128.const f64x2 0 0))
        (local.set $j (i32.load (i32.add (local.get $starts) (local.get $k))))
        (block $rowsDone
          (loop $rows
            (br_if $rowsDone (i32.gt_s (local.get $j) (local.get $last)))
            (if (i32.gt_s (i32.load (i32.add (local.get $ends) (i32.shl (local.get $j) (i32.const 2)))) (local.get $k))
              (then
                (local.set $x (v128.load (i32.add (i32.add (local.get $b) (i32.mul (local.get $j) (local.get $rowBytes))) (i32.shl (local.get $k) (i32.const 2)))))
                (local.set $lo (f64x2.promote_low_f32x4 (local.get $x)))
                (local.set $hi (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $x) (local.get $x))))
                (local.set $at (i32.add (local.get $t) (i32.shl (local.get $j) (i32.const 3))))
                (local.set $v (f64x2.splat (f64.load (local.get $at))))
                (local.set $a0 (f64x2.add (local.get $a0) (f64x2.mul (local.get $v) (local.get $lo))))
                (local.set $a1 (f64x2.add (local.get $a1) (f64x2.mul (local.get $v) (local.get $hi))))
                (local.set $at (i32.add (local.get $at) (local.get $tRow)))
                (local.set $v (f64x2.splat (f64.load (local.get $at))))
                (local.set $b0 (f64x2.add (local.get $b0) (f64x2.mul (local.get $v) (local.get $lo))))
                (local.set $b1 (f64x2.add (local.get $b1) (f64x2.mul (local.get $v) (local.get $hi))))
                (local.set $at (i32.add (local.get $at) (local.get $tRow)))
                (local.set $v (f64x2.splat (f64.load (local.get $at))))
                (local.set $c0 (f64x2.add (local.get $c0) (f64x2.mul (local.get $v) (local.get $lo))))
                (local.set $c1 (f64x2.add (local.get $c1) (f64x2.mul (local.get $v) (local.get $hi))))
                (local.set $at (i32.add (local.get $at) (local.get $tRow)))
                (local.set $v (f64x2.splat (f64.load (local.get $at))))
                (local.set $e0 (f64x2.add (local.get $e0) (f64x2.mul (local.get $v) (local.get $lo))))
                (local.set $e1 (f64x2.add (local.get $e1) (f64x2.mul (local.get $v) (local.get $hi))))))
            (local.set $j (i32.add (local.get $j) (i32.const 1)))
            (br $rows)))
        (local.set $at (i32.add (local.get $out) (i32.shl (local.get $k) (i32.const 2))))
        (v128.store (local.get $at) (call $pack (local.get $a0) (local.get $a1)))
        (local.set $at (i32.add (local.get $at) (local.get $rowBytes)))
        (v128.store (local.get $at) (call $pack (local.get $b0) (local.get $b1)))
        (local.set $at (i32.add (local.get $at) (local.get $rowBytes)))
        (v128.store (local.get $at) (call $pack (local.get $c0) (local.get $c1)))
        (local.set $at (i32.add (local.get $at) (local.get $rowBytes)))
        (v128.store (local.get $at) (call $pack (local.get $e0) (local.get $e1)))
        (local.set $k (i32.add (local.get $k) (i32.const 4)))
        (br $keys))))

  ;; Two pairs of float64 as four float32, rounded to nearest as JavaScript stores them.
  (func $pack (param $lo v128) (param $hi v128) (result v128)
    (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23
      (f32x4.demote_f64x2_zero (local.get $lo))
      (f32x4.demote_f64x2_zero (local.get $hi))))
)
