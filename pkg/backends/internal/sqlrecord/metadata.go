package sqlrecord

import (
	"encoding/json"
	"fmt"
)

// EncodeMetadata returns md as a JSON text parameter, or SQL NULL (a nil
// any) for a nil map: NULL means "keep the stored metadata" to a renewal,
// where the JSON null a nil map would encode to would not.
func EncodeMetadata(md map[string]string) (any, error) {
	if md == nil {
		return nil, nil
	}
	buf, err := json.Marshal(md)
	if err != nil {
		return nil, err
	}
	return string(buf), nil
}

// DecodeMetadata reads a stored metadata column: nil (SQL NULL) is no
// metadata.
func DecodeMetadata(raw []byte) (map[string]string, error) {
	if raw == nil {
		return nil, nil
	}
	var md map[string]string
	if err := json.Unmarshal(raw, &md); err != nil {
		return nil, fmt.Errorf("decoding metadata: %w", err)
	}
	return md, nil
}
