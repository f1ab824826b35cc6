mod common;
use common::*;

#[test]
fn mount_empty_image_and_unmount_clean() {
    if !have_tools() {
        return;
    }
    for cfg in CONFIGS {
        let t = Tmp::new("smoke");
        let img = t.path("img");
        mkfs(&img, cfg, 4096, &[]);
        let m = mount(&img);
        assert_eq!(m.names(2), vec!["lost+found".to_string()]);
        let f = m.create_file(2, "hello", b"hello world\n");
        assert_eq!(m.read_all(f), b"hello world\n");
        m.unmount(&img);
        fsck(&img);
        assert_eq!(debugfs_cat(&img, "/hello"), b"hello world\n");
        let stats = String::from_utf8(debugfs(&img, "stats")).unwrap();
        assert!(stats.contains("Filesystem state:         clean"), "{stats}");
        assert!(stats.contains("Mount count:              1"), "{stats}");
    }
}
