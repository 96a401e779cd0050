package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

type consentRow struct {
	UserID    string `gorm:"primaryKey"`
	ClientID  string `gorm:"primaryKey"`
	Scopes    string
	CreatedAt time.Time
	UpdatedAt time.Time
}

func (consentRow) TableName() string { return "consents" }

// ConsentedScopes returns the scopes a user granted a client, if any.
func (s *Store) ConsentedScopes(ctx context.Context, userID, clientID string) ([]string, error) {
	var row consentRow
	err := s.conn(ctx).Where("user_id = ? AND client_id = ?", userID, clientID).Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("store: consent: %w", err)
	}
	return strings.Fields(row.Scopes), nil
}

// GrantConsent remembers that a user granted scopes to a client, adding to
// what they granted before.
func (s *Store) GrantConsent(ctx context.Context, userID, clientID string, scopes []string) error {
	return s.InTx(ctx, func(ctx context.Context) error {
		have, err := s.ConsentedScopes(ctx, userID, clientID)
		if err != nil {
			return err
		}
		set := map[string]bool{}
		merged := []string{}
		for _, sc := range append(have, scopes...) {
			if !set[sc] {
				set[sc] = true
				merged = append(merged, sc)
			}
		}
		now := s.Now()
		row := consentRow{UserID: userID, ClientID: clientID, Scopes: strings.Join(merged, " "), CreatedAt: now, UpdatedAt: now}
		return s.conn(ctx).Clauses(clause.OnConflict{
			Columns:   []clause.Column{{Name: "user_id"}, {Name: "client_id"}},
			DoUpdates: clause.AssignmentColumns([]string{"scopes", "updated_at"}),
		}).Create(&row).Error
	})
}
