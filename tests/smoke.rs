//! Foundation smoke tests: libtorch computes, SQLite round-trips, FFmpeg decodes.
use std::process::Command;

#[test]
fn tch_matmul_on_cpu_gives_the_right_numbers() {
    let a = tch::Tensor::from_slice(&[1f32, 2., 3., 4.]).reshape([2, 2]);
    let b = tch::Tensor::from_slice(&[5f32, 6., 7., 8.]).reshape([2, 2]);
    let c = a.matmul(&b);
    assert_eq!(
        Vec::<f32>::try_from(c.flatten(0, -1)).unwrap(),
        vec![19., 22., 43., 50.]
    );
    let d = verity::device::describe();
    assert!(d.kind == "cpu" || d.kind == "cuda");
    assert!(verity::device::select(verity::device::DevicePref::Cpu).unwrap() == tch::Device::Cpu);
}

#[test]
fn rusqlite_round_trip() {
    let c = rusqlite::Connection::open_in_memory().unwrap();
    c.execute_batch("CREATE TABLE t (k TEXT, v REAL); INSERT INTO t VALUES ('a', 0.25);")
        .unwrap();
    let v: f64 = c
        .query_row("SELECT v FROM t WHERE k = ?1", ["a"], |r| r.get(0))
        .unwrap();
    assert_eq!(v, 0.25);
}

#[test]
fn ffmpeg_generated_video_decodes_to_the_expected_frames() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.mp4");
    let ok = Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=160x120:rate=10:duration=2",
            "-pix_fmt",
            "yuv420p",
        ])
        .arg(&path)
        .status()
        .expect("ffmpeg CLI (apt ffmpeg) is needed for this test");
    assert!(ok.success());
    video_rs::init().unwrap();
    let mut dec = video_rs::decode::Decoder::new(path.as_path()).unwrap();
    let (w, h) = dec.size();
    assert_eq!((w, h), (160, 120));
    let mut n = 0;
    for f in dec.decode_iter() {
        match f {
            Ok((_, frame)) => {
                assert_eq!(frame.shape(), &[120, 160, 3]);
                n += 1;
            }
            Err(video_rs::Error::DecodeExhausted) | Err(video_rs::Error::ReadExhausted) => break,
            Err(e) => panic!("decode error: {e}"),
        }
    }
    assert_eq!(n, 20);
}
