package flv

import (
	"bytes"
	"io"
	"testing"

	"github.com/stretchr/testify/require"
)

var videoCases = []struct {
	name string
	tag  VideoTag
	wire []byte
}{
	{"AVC sequence header", VideoTag{FrameType: FrameKey, CodecID: VideoCodecAVC, PacketType: PacketSequenceStart, Data: []byte{1, 0x4d}},
		[]byte{0x17, 0x00, 0, 0, 0, 1, 0x4d}},
	{"AVC NALU with composition time 80", VideoTag{FrameType: FrameInter, CodecID: VideoCodecAVC, PacketType: PacketCodedFrames, CompositionTime: 80, Data: []byte{0, 0, 0, 1, 0x41}},
		[]byte{0x27, 0x01, 0, 0, 80, 0, 0, 0, 1, 0x41}},
	{"AVC negative composition time", VideoTag{FrameType: FrameInter, CodecID: VideoCodecAVC, PacketType: PacketCodedFrames, CompositionTime: -40, Data: []byte{9}},
		[]byte{0x27, 0x01, 0xff, 0xff, 0xd8, 9}},
	{"HEVC enhanced sequence start", VideoTag{FrameType: FrameKey, Enhanced: true, FourCC: FourCCHEVC, PacketType: PacketSequenceStart, Data: []byte{1}},
		[]byte{0x90, 'h', 'v', 'c', '1', 1}},
	{"HEVC enhanced coded frames", VideoTag{FrameType: FrameInter, Enhanced: true, FourCC: FourCCHEVC, PacketType: PacketCodedFrames, CompositionTime: 40, Data: []byte{7}},
		[]byte{0xa1, 'h', 'v', 'c', '1', 0, 0, 40, 7}},
	{"AV1 coded frames (no composition time: CodedFramesX)", VideoTag{FrameType: FrameKey, Enhanced: true, FourCC: FourCCAV1, PacketType: PacketCodedFrames, Data: []byte{0x12, 0}},
		[]byte{0x93, 'a', 'v', '0', '1', 0x12, 0}},
}

var audioCases = []struct {
	name string
	tag  AudioTag
	wire []byte
}{
	{"AAC sequence header", AudioTag{SoundFormat: SoundAAC, Rate: 3, Size: 1, Stereo: true, PacketType: AACSequenceHeader, Data: []byte{0x11, 0x90}},
		[]byte{0xaf, 0x00, 0x11, 0x90}},
	{"AAC raw", AudioTag{SoundFormat: SoundAAC, Rate: 3, Size: 1, Stereo: true, PacketType: AACRaw, Data: []byte{0x21}},
		[]byte{0xaf, 0x01, 0x21}},
	{"G.711 mu-law as ffmpeg writes it", AudioTag{SoundFormat: SoundG711MuLaw, Size: 1, Data: []byte{0xff, 0x7f}},
		[]byte{0x82, 0xff, 0x7f}},
	{"G.711 A-law", AudioTag{SoundFormat: SoundG711ALaw, Size: 1, Data: []byte{0xd5}},
		[]byte{0x72, 0xd5}},
	{"Opus enhanced sequence start", AudioTag{SoundFormat: SoundExHeader, Enhanced: true, FourCC: FourCCOpus, PacketType: PacketSequenceStart, Data: []byte("OpusHead")},
		append([]byte{0x90, 'O', 'p', 'u', 's'}, "OpusHead"...)},
	{"Opus enhanced coded frame", AudioTag{SoundFormat: SoundExHeader, Enhanced: true, FourCC: FourCCOpus, PacketType: PacketCodedFrames, Data: []byte{0xfc}},
		[]byte{0x91, 'O', 'p', 'u', 's', 0xfc}},
}

func TestVideoTag(t *testing.T) {
	for _, c := range videoCases {
		t.Run(c.name, func(t *testing.T) {
			require.Equal(t, c.wire, c.tag.Marshal(nil))
			var got VideoTag
			require.NoError(t, got.Unmarshal(c.wire))
			require.Equal(t, c.tag, got)
		})
	}
}

func TestAudioTag(t *testing.T) {
	for _, c := range audioCases {
		t.Run(c.name, func(t *testing.T) {
			require.Equal(t, c.wire, c.tag.Marshal(nil))
			var got AudioTag
			require.NoError(t, got.Unmarshal(c.wire))
			require.Equal(t, c.tag, got)
		})
	}
}

func TestTagErrors(t *testing.T) {
	var v VideoTag
	require.ErrorIs(t, v.Unmarshal(nil), ErrTruncated)
	require.ErrorIs(t, v.Unmarshal([]byte{0x17, 0}), ErrTruncated)
	require.ErrorIs(t, v.Unmarshal([]byte{0x17, 7, 0, 0, 0}), ErrUnsupported)
	require.ErrorIs(t, v.Unmarshal([]byte{0x91, 'h', 'v'}), ErrTruncated)
	require.ErrorIs(t, v.Unmarshal([]byte{0x9f, 'h', 'v', 'c', '1'}), ErrUnsupported)
	var a AudioTag
	require.ErrorIs(t, a.Unmarshal([]byte{0xaf}), ErrTruncated)
	require.ErrorIs(t, a.Unmarshal([]byte{0xaf, 5}), ErrUnsupported)
	require.ErrorIs(t, a.Unmarshal([]byte{0x90, 'O'}), ErrTruncated)
}

func TestMetadata(t *testing.T) {
	m := Metadata{Width: 1280, Height: 720, FrameRate: 25, VideoCodecID: VideoCodecAVC, AudioSampleRate: 48000, AudioChannels: 2, AudioCodecID: SoundAAC, Encoder: "sipcast"}
	b, err := m.MarshalSetDataFrame(nil)
	require.NoError(t, err)
	a, err := ParseMetadata(b)
	require.NoError(t, err)
	require.Equal(t, 1280.0, a.Get("width"))
	require.Equal(t, true, a.Get("stereo"))
	require.Equal(t, "sipcast", a.Get("encoder"))
	_, err = ParseMetadata([]byte{0x02, 0, 1, 'x'})
	require.ErrorIs(t, err, ErrUnsupported)
	require.Equal(t, float64(0x68766331), FourCCNumber(FourCCHEVC))
}

func TestFileRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	w, err := NewFileWriter(&buf, true, true)
	require.NoError(t, err)
	require.NoError(t, w.WriteTag(TagVideo, 0x01000010, []byte{0x17, 1, 0, 0, 0}, []byte{1, 2, 3}))
	require.NoError(t, w.WriteTag(TagAudio, 20, nil, []byte{0xaf, 1, 9}))
	r, err := NewFileReader(bytes.NewReader(buf.Bytes()))
	require.NoError(t, err)
	require.True(t, r.HasAudio && r.HasVideo)
	var tag Tag
	require.NoError(t, r.Read(&tag))
	require.Equal(t, Tag{TagVideo, 0x01000010, []byte{0x17, 1, 0, 0, 0, 1, 2, 3}}, tag)
	require.NoError(t, r.Read(&tag))
	require.Equal(t, Tag{TagAudio, 20, []byte{0xaf, 1, 9}}, tag)
	require.Equal(t, io.EOF, r.Read(&tag))
}

func TestFileReaderTruncated(t *testing.T) {
	_, err := NewFileReader(bytes.NewReader([]byte("GIF89a")))
	require.ErrorIs(t, err, ErrNotFLV)
	hdr := []byte{'F', 'L', 'V', 1, 5, 0, 0, 0, 9, 0, 0, 0, 0}
	r, err := NewFileReader(bytes.NewReader(append(hdr, 9, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 1, 2)))
	require.NoError(t, err)
	require.ErrorIs(t, r.Read(&Tag{}), io.ErrUnexpectedEOF)
	require.LessOrEqual(t, cap(r.buf), 2<<20, "a 16 MiB announcement must not allocate 16 MiB")
}

func FuzzVideoTag(f *testing.F) {
	for _, c := range videoCases {
		f.Add(c.wire)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		in := bytes.Clone(b)
		var v VideoTag
		if err := v.Unmarshal(b); err != nil {
			return
		}
		require.Equal(t, in, b)
		var again VideoTag
		require.NoError(t, again.Unmarshal(v.Marshal(nil)))
		require.Equal(t, v.Data, again.Data)
		require.Equal(t, v.CompositionTime, again.CompositionTime)
	})
}

func FuzzAudioTag(f *testing.F) {
	for _, c := range audioCases {
		f.Add(c.wire)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var a AudioTag
		if err := a.Unmarshal(b); err != nil {
			return
		}
		var again AudioTag
		require.NoError(t, again.Unmarshal(a.Marshal(nil)))
		require.Equal(t, a, again)
	})
}

func FuzzFileReader(f *testing.F) {
	var buf bytes.Buffer
	w, _ := NewFileWriter(&buf, true, true)
	for _, c := range videoCases {
		_ = w.WriteTag(TagVideo, 40, nil, c.wire)
	}
	for _, c := range audioCases {
		_ = w.WriteTag(TagAudio, 40, nil, c.wire)
	}
	f.Add(buf.Bytes())
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := NewFileReader(bytes.NewReader(b))
		if err != nil {
			return
		}
		var tag Tag
		for r.Read(&tag) == nil {
			require.LessOrEqual(t, len(tag.Data), MaxTagSize)
			switch tag.Type {
			case TagVideo:
				var v VideoTag
				_ = v.Unmarshal(tag.Data)
			case TagAudio:
				var a AudioTag
				_ = a.Unmarshal(tag.Data)
			case TagScript:
				_, _ = ParseMetadata(tag.Data)
			}
		}
	})
}
